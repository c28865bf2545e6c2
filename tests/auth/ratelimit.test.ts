/**
 * Per-user purchase rate limit in Redis (a fixed one-second window that starts with the user's first
 * attempt): the limit is per user, refusals are RATE_LIMITED with a retry hint, the window resets, and
 * its keys expire. A purchase counts it in the same script as its reservation, so an attempt over
 * the limit reserves nothing.
 */
import { afterAll, expect, it } from 'vitest'

process.env.PURCHASE_RATE_LIMIT = '3'
const { checkPurchaseRate } = await import('../../server/domain/ratelimit')
const { closeRedis, redis } = await import('../../server/redis/client')
const { keys } = await import('../../server/redis/keys')
const { DomainError } = await import('../../server/domain/errors')
const { closePaymentPublisher, purchaseCoupon } = await import('../../server/domain/orders/purchase')
const { closeDb } = await import('../../server/db')
const { couponState, createCouponOnSale, createUsers } = await import('../support/data')
const { findCoupon } = await import('../../server/domain/coupons/catalogue')

/** Waits until the user's current window has ended (Redis says how long it has left). */
const waitWindowEnd = async (userId: number) => {
  const left = await redis().pttl(keys.rateLimit(userId))
  if (left > 0) await new Promise((r) => setTimeout(r, left + 20))
}
const userA = 900_000_000 + Math.floor(Math.random() * 1_000_000)
const userB = userA + 1

afterAll(async () => {
  await closePaymentPublisher()
  await closeRedis()
  await closeDb()
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
  const ttl = await redis().pttl(keys.rateLimit(userA))
  expect(ttl).toBeGreaterThan(0)
  expect(ttl).toBeLessThanOrEqual(1_000)
  // the next window starts afresh
  await waitWindowEnd(userA)
  await expect(checkPurchaseRate(userA)).resolves.toBeUndefined()
})

it('a purchase over the limit answers RATE_LIMITED and leaves nothing reserved', async () => {
  const coupons = await Promise.all(Array.from({ length: 5 }, () => createCouponOnSale({ stock: 2 })))
  const [user] = await createUsers(1)
  await Promise.all(coupons.map((c) => findCoupon(c))) // cached, so the attempts reach Redis at once
  const results = await Promise.allSettled(coupons.map((c) => purchaseCoupon(user!, c, 'ratelimit-test')))
  expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(3)
  const refused = results.flatMap((r, i) => (r.status === 'rejected' ? [{ couponId: coupons[i]!, reason: r.reason as unknown }] : []))
  expect(refused.map((r) => r.reason)).toEqual([
    expect.objectContaining({ reason: 'RATE_LIMITED' }),
    expect.objectContaining({ reason: 'RATE_LIMITED' }),
  ])
  for (const { couponId } of refused) expect(await couponState(couponId)).toMatchObject({ redisStock: 2, pending: 0, buyers: 0 })
  // until the window ends, this instance refuses the user at once
  if ((await redis().pttl(keys.rateLimit(user!))) > 100) {
    await expect(purchaseCoupon(user!, refused[0]!.couponId, 'ratelimit-test')).rejects.toMatchObject({ reason: 'RATE_LIMITED' })
  }
})
