/**
 * No purchase decision rests on a web instance's own clock. A web instance runs under Debian's
 * `faketime` 90 s ahead (its whole process clock, not a hook in the app) beside this process, which
 * keeps the real time: the sale window is Redis' to judge, and the per-user rate limit is one window
 * in Redis however the instances' clocks disagree.
 */
import { afterAll, beforeAll, expect, it } from 'vitest'
import { call } from '../support/api'

process.env.PURCHASE_RATE_LIMIT = '3'
const { testStack } = await import('../faults/support')
const { closeDb, db } = await import('../../server/db')
const { checkPurchaseRate } = await import('../../server/domain/ratelimit')
const { closeRedis, redis } = await import('../../server/redis/client')
const { keys } = await import('../../server/redis/keys')
const { createCouponOnSale } = await import('../support/data')
const { createShoppers } = await import('../support/shoppers')

const SKEW_S = 90
let fastWeb: { url: string, stop: () => Promise<void> }
let shopper: Awaited<ReturnType<typeof createShoppers>>[number]

beforeAll(async () => {
  let shoppers: typeof shopper[]
  ;[fastWeb, shoppers] = await Promise.all([
    testStack().startWeb({ wrap: ['faketime', '-f', `+${SKEW_S}s`], env: { PURCHASE_RATE_LIMIT: '3' } }),
    createShoppers(1),
  ])
  shopper = shoppers[0]!
  // the skew is real: the instance's Date header is 90 s ahead of ours
  const date = Date.parse((await fetch(`${fastWeb.url}/healthz`)).headers.get('date')!)
  expect((date - Date.now()) / 1000).toBeGreaterThan(SKEW_S - 5)
}, 120_000)

afterAll(async () => {
  await fastWeb?.stop()
  await closeRedis()
  await closeDb()
})

const purchase = (couponId: number) => call(fastWeb.url, 'order.purchase', { input: { couponId }, token: shopper.token, mutation: true })

it('sells until the sale really ends, whatever the instance\'s clock says', async () => {
  const couponId = await createCouponOnSale({ stock: 5 })
  await db().updateTable('coupons').set({ sale_ends_at: new Date(Date.now() + 30_000) }).where('id', '=', couponId).execute()
  const answer = await purchase(couponId)
  expect({ status: answer.status, reason: answer.error?.data.reason, order: answer.data?.status }).toEqual({
    status: 200,
    reason: undefined,
    order: 'PENDING',
  })
})

it('counts a shopper\'s attempts in one window across instances whose clocks disagree', async () => {
  const me = await call(fastWeb.url, 'user.me', { token: shopper.token })
  const couponId = await createCouponOnSale({ stock: 5 })
  const left = await redis().pttl(keys.rateLimit(me.data!.id)) // (the attempt above started a window)
  if (left > 0) await new Promise((r) => setTimeout(r, left + 20))
  const started = performance.now()
  // three attempts on this instance (real time): the limit
  for (let i = 0; i < 3; i++) await checkPurchaseRate(me.data!.id)
  // the fourth, a moment later on the instance 90 s ahead, is over it
  const answer = await purchase(couponId)
  expect(performance.now() - started).toBeLessThan(900) // all inside one window
  expect({ status: answer.status, reason: answer.error?.data.reason }).toEqual({ status: 429, reason: 'RATE_LIMITED' })
})
