/**
 * Per-user purchase rate limit in Redis (fixed one-second window): the limit is per user, refusals are
 * RATE_LIMITED with a retry hint, the window resets, and its keys expire.
 */
import { afterAll, beforeAll, expect, it } from 'vitest'

process.env.PURCHASE_RATE_LIMIT = '3'
const { checkPurchaseRate } = await import('../../server/domain/ratelimit')
const { closeRedis, redis } = await import('../../server/redis/client')
const { keys } = await import('../../server/redis/keys')
const { DomainError } = await import('../../server/domain/errors')

const waitNextSecond = () => new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 20))
const userA = 900_000_000 + Math.floor(Math.random() * 1_000_000)
const userB = userA + 1

beforeAll(async () => {
  // start at the beginning of a window so the burst below stays inside one
  await waitNextSecond()
})
afterAll(async () => {
  await closeRedis()
})

it('allows PURCHASE_RATE_LIMIT attempts per user per second, then RATE_LIMITED with Retry-After 1', async () => {
  const results = await Promise.allSettled(Array.from({ length: 5 }, () => checkPurchaseRate(userA)))
  expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(3)
  const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason)
  expect(refused).toHaveLength(2)
  for (const error of refused) {
    expect(error).toBeInstanceOf(DomainError)
    expect(error).toMatchObject({ reason: 'RATE_LIMITED', retryAfterSeconds: 1 })
  }
  // another user is not affected
  await expect(checkPurchaseRate(userB)).resolves.toBeUndefined()
  // the window's key expires by itself
  const ttl = await redis().ttl(keys.rateLimit(userA, Math.floor(Date.now() / 1000)))
  expect(ttl).toBeGreaterThan(0)
  expect(ttl).toBeLessThanOrEqual(2)
  // the next window starts afresh
  await waitNextSecond()
  await expect(checkPurchaseRate(userA)).resolves.toBeUndefined()
})
