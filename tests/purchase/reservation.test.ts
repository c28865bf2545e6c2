import { afterAll, describe, expect, it } from 'vitest'
import { closeRedis, redis } from '../../server/redis/client'
import { keys } from '../../server/redis/keys'
import { cancelScript, claimScript, releaseScript, reserveScript, type Reservation } from '../../server/redis/scripts'
import { newOrderId } from '../../server/domain/orders/ids'

// Coupon ids far above anything MySQL holds, so these Redis-only reservations stay out of the audit.
let nextCoupon = 900_000 + Math.floor(Math.random() * 90_000)
async function freshCoupon(stock: number | null) {
  const id = nextCoupon++
  await redis().del(...keys.couponKeys(id))
  if (stock !== null) await redis().set(keys.stock(id), stock)
  return id
}
const entry = (userId: number): Reservation => ({ state: 'reserved', userId, price: 100, serverId: 'test', at: Date.now() })

afterAll(async () => {
  await closeRedis()
})

describe('the reserve script', () => {
  it('never sells more than the stock, and at most one per user, under 2,000 concurrent attempts by 500 users', async () => {
    const couponId = await freshCoupon(100)
    const attempts = Array.from({ length: 2000 }, (_, i) => 1 + (i % 500))
    const results = await Promise.all(attempts.map((userId) => reserveScript(redis(), couponId, userId, newOrderId(couponId), entry(userId))))
    const ok = results.filter((r) => r.status === 'OK')
    expect(ok).toHaveLength(100)
    expect(results.filter((r) => r.status === 'SOLD_OUT' || r.status === 'ALREADY_PURCHASED')).toHaveLength(1900)
    expect(await redis().get(keys.stock(couponId))).toBe('0')
    expect(await redis().hlen(keys.pending(couponId))).toBe(100)
    const buyers = await redis().smembers(keys.buyers(couponId))
    expect(new Set(buyers).size).toBe(100)
  })

  it('answers NOT_LOADED when the stock key is missing, ALREADY_PURCHASED for a second attempt', async () => {
    const missing = await freshCoupon(null)
    expect((await reserveScript(redis(), missing, 1, newOrderId(missing), entry(1))).status).toBe('NOT_LOADED')
    const couponId = await freshCoupon(5)
    expect((await reserveScript(redis(), couponId, 7, newOrderId(couponId), entry(7))).status).toBe('OK')
    const again = await reserveScript(redis(), couponId, 7, newOrderId(couponId), entry(7))
    expect(again).toEqual({ status: 'ALREADY_PURCHASED', stockLeft: 4 })
  })
})

describe('cancel, claim and release', () => {
  it('lets exactly one of cancel and claim win', async () => {
    const couponId = await freshCoupon(3)
    const first = newOrderId(couponId)
    await reserveScript(redis(), couponId, 1, first, entry(1))
    expect(await claimScript(redis(), couponId, first)).toBe('CLAIMED')
    expect(await cancelScript(redis(), couponId, first)).toBe('CLAIMED')
    expect(await redis().get(keys.stock(couponId))).toBe('2') // the claimed unit stays reserved

    const second = newOrderId(couponId)
    await reserveScript(redis(), couponId, 2, second, entry(2))
    expect(await cancelScript(redis(), couponId, second)).toBe('CANCELLED')
    expect(await claimScript(redis(), couponId, second)).toBe('MISSING')
    expect(await redis().get(keys.stock(couponId))).toBe('2')
    expect(await redis().sismember(keys.buyers(couponId), '2')).toBe(0)
  })

  it('claims idempotently: a claimed entry stays claimed after a worker crash', async () => {
    const couponId = await freshCoupon(1)
    const orderId = newOrderId(couponId)
    await reserveScript(redis(), couponId, 3, orderId, entry(3))
    expect(await claimScript(redis(), couponId, orderId, 1000)).toBe('CLAIMED')
    expect(await claimScript(redis(), couponId, orderId, 2000)).toBe('CLAIMED')
    const stored = JSON.parse((await redis().hget(keys.pending(couponId), orderId))!) as Reservation
    expect(stored).toMatchObject({ state: 'claimed', claimedAt: 1000, userId: 3 })
  })

  it('releases a failed reservation once, however often it runs', async () => {
    const couponId = await freshCoupon(10)
    const orderId = newOrderId(couponId)
    await reserveScript(redis(), couponId, 4, orderId, entry(4))
    const runs = await Promise.all(Array.from({ length: 20 }, () => releaseScript(redis(), couponId, orderId)))
    expect(runs.filter(Boolean)).toHaveLength(1)
    expect(await redis().get(keys.stock(couponId))).toBe('10')
    expect(await redis().sismember(keys.buyers(couponId), '4')).toBe(0)
  })
})
