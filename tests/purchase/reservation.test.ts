import type { Redis } from 'ioredis'
import { afterAll, describe, expect, it } from 'vitest'
import { closeRedis, redis } from '../../server/redis/client'
import { keys } from '../../server/redis/keys'
import { cancelScript, claimScript, finishScript, purchaseScript, reserveScript, type Reservation } from '../../server/redis/scripts'
import { newOrderId } from '../../server/domain/orders/ids'
import { redisOnlyCoupon, reserve } from '../support/reservations'

// Coupon ids far above anything MySQL holds, so these Redis-only reservations stay out of the audit.
let nextCoupon = 900_000 + Math.floor(Math.random() * 90_000)
const freshCoupon = (stock: number | null) => redisOnlyCoupon(nextCoupon++, stock)
const version = async (couponId: number) => Number(await redis().get(keys.version(couponId)) ?? 0)
const entryOf = async (couponId: number, orderId: string) =>
  JSON.parse((await redis().hget(keys.pending(couponId), orderId))!) as Reservation
const redisNow = async () => {
  const [s, us] = await redis().time()
  return Number(s) * 1000 + Math.floor(Number(us) / 1000)
}

afterAll(async () => {
  await closeRedis()
})

describe('the reserve script', () => {
  it('never sells more than the stock, and at most one per user, under 2,000 concurrent attempts by 500 users', async () => {
    const couponId = await freshCoupon(100)
    const attempts = Array.from({ length: 2000 }, (_, i) => 1 + (i % 500))
    const results = await Promise.all(attempts.map((userId) => reserve(couponId, userId)))
    const reserved = results.filter((r) => r.status === 'OK')
    expect(reserved).toHaveLength(100)
    // The other attempts of the 100 who reserved are answered with their own pending order …
    const orderOf = new Map(reserved.map((r) => [attempts[results.indexOf(r)]!, r.orderId] as const))
    expect(orderOf.size).toBe(100)
    const own = results.map((r, i) => ({ r, userId: attempts[i]! })).filter(({ r }) => r.status === 'PENDING')
    expect(own).toHaveLength(300)
    expect(own.every(({ r, userId }) => r.ownOrderId === orderOf.get(userId))).toBe(true)
    // … and units are all held by pending reservations that may still fail: nobody is told SOLD_OUT yet.
    expect(results.filter((r) => r.status === 'HELD')).toHaveLength(1600)
    expect(await redis().get(keys.stock(couponId))).toBe('0')
    expect(await redis().hlen(keys.pending(couponId))).toBe(100)
    expect(new Set(await redis().smembers(keys.buyers(couponId))).size).toBe(100)
    expect(await version(couponId)).toBe(100)
  })

  it('answers OK again for the same order id re-sent (a reconnect), without taking a second unit', async () => {
    const couponId = await freshCoupon(5)
    const first = await reserve(couponId, 7)
    expect(first).toMatchObject({ status: 'OK', stockLeft: 4 })
    expect(await reserve(couponId, 7, first.orderId)).toMatchObject({ status: 'OK', stockLeft: 4 })
    // another attempt while it is pending: that order (not ALREADY_PURCHASED); once paid, ALREADY_PURCHASED
    expect(await reserve(couponId, 7)).toEqual(expect.objectContaining({ status: 'PENDING', stockLeft: 4, ownOrderId: first.orderId }))
    expect(await redis().hlen(keys.pending(couponId))).toBe(1)
    await finishScript(redis(), couponId, [[first.orderId, 'drop']])
    expect(await reserve(couponId, 7)).toEqual(expect.objectContaining({ status: 'ALREADY_PURCHASED', stockLeft: 4 }))
  })

  it('answers NOT_LOADED without the coupon\'s marker, even when a stock key is there', async () => {
    const couponId = await freshCoupon(null)
    expect((await reserve(couponId, 1)).status).toBe('NOT_LOADED')
    await redis().set(keys.stock(couponId), 5) // stock without its marker: not trusted
    expect((await reserve(couponId, 1)).status).toBe('NOT_LOADED')
    expect(await redis().get(keys.stock(couponId))).toBe('5')
  })

  it('answers REPAIRING while the coupon\'s repair lease is held, and reserves once it is gone', async () => {
    const couponId = await freshCoupon(3)
    await redis().set(keys.repair(couponId), 'someone', 'PX', 10_000)
    expect((await reserve(couponId, 1)).status).toBe('REPAIRING')
    await redis().del(keys.repair(couponId))
    expect((await reserve(couponId, 1)).status).toBe('OK')
  })

  it('judges the sale window and stamps the entry on Redis\' clock', async () => {
    const couponId = await freshCoupon(3)
    const now = await redisNow()
    const attempt = (userId: number, saleStartsAt: number | null, saleEndsAt: number | null) =>
      reserveScript(redis(), couponId, { userId, orderId: newOrderId(couponId), price: 100, serverId: 'test', saleStartsAt, saleEndsAt })
    expect((await attempt(1, now + 60_000, null)).status).toBe('SALE_NOT_STARTED')
    expect((await attempt(1, now - 120_000, now - 60_000)).status).toBe('SALE_ENDED')
    const orderId = newOrderId(couponId)
    const ok = await reserveScript(redis(), couponId, {
      userId: 2,
      orderId,
      price: 100,
      serverId: 'web-a',
      requestId: 'r-1',
      saleStartsAt: now - 1_000,
      saleEndsAt: now + 60_000,
    })
    expect(ok.status).toBe('OK')
    const entry = await entryOf(couponId, orderId)
    expect(entry).toMatchObject({ state: 'reserved', userId: 2, price: 100, serverId: 'web-a', requestId: 'r-1' })
    expect(Math.abs(entry.at - await redisNow())).toBeLessThan(1_000)
    expect(Number(await redis().hget(keys.saleStats(couponId), String(Math.floor(entry.at / 1000))))).toBe(1)
    // The counter's lifetime is set by the first reservation of each second, and lasts an hour.
    expect(await redis().ttl(keys.saleStats(couponId))).toBeGreaterThan(3_500)
  })

  it('answers SOLD_OUT only once no reservation is pending; HELD while one may still give its unit back', async () => {
    const couponId = await freshCoupon(1)
    const held = await reserve(couponId, 1)
    expect((await reserve(couponId, 2)).status).toBe('HELD')
    expect(await finishScript(redis(), couponId, [[held.orderId, 'release']])).toEqual({ removed: 1, restored: 1 })
    const taken = await reserve(couponId, 2)
    expect(taken.status).toBe('OK')
    await finishScript(redis(), couponId, [[taken.orderId, 'drop']])
    expect((await reserve(couponId, 3)).status).toBe('SOLD_OUT')
  })
})

describe('cancel, claim and the follow-ups', () => {
  it('lets exactly one of cancel and claim win, and bumps the version on each change', async () => {
    const couponId = await freshCoupon(3)
    const first = await reserve(couponId, 1)
    const v = await version(couponId)
    expect(await claimScript(redis(), couponId, [first.orderId])).toEqual([
      expect.objectContaining({ state: 'claimed', userId: 1, price: 100 }),
    ])
    expect(await version(couponId)).toBe(v + 1)
    expect(await cancelScript(redis(), couponId, first.orderId)).toBe('CLAIMED')
    expect(await redis().get(keys.stock(couponId))).toBe('2') // the claimed unit stays reserved

    const second = await reserve(couponId, 2)
    expect(await cancelScript(redis(), couponId, second.orderId)).toBe('CANCELLED')
    expect(await claimScript(redis(), couponId, [second.orderId])).toEqual(['MISSING'])
    expect(await cancelScript(redis(), couponId, second.orderId)).toBe('MISSING')
    expect(await redis().get(keys.stock(couponId))).toBe('2')
    expect(await redis().sismember(keys.buyers(couponId), '2')).toBe(0)
  })

  it('claims idempotently on Redis\' clock: a claimed entry keeps its first claim time', async () => {
    const couponId = await freshCoupon(1)
    const { orderId } = await reserve(couponId, 3)
    const [claimed] = await claimScript(redis(), couponId, [orderId])
    const [again] = await claimScript(redis(), couponId, [orderId])
    expect(again).toEqual(claimed)
    expect((claimed as Reservation).claimedAt! - await redisNow()).toBeLessThan(1_000)
  })

  it('reports a corrupt entry to the claimer instead of failing the whole claim', async () => {
    const couponId = await freshCoupon(2)
    const good = await reserve(couponId, 1)
    await redis().hset(keys.pending(couponId), `${couponId}-CORRUPT`, '{not json')
    expect(await claimScript(redis(), couponId, [`${couponId}-CORRUPT`, good.orderId])).toEqual([
      'CORRUPT',
      expect.objectContaining({ userId: 1 }),
    ])
  })

  it('follows up each outcome by its rule, once however often it runs', async () => {
    const couponId = await freshCoupon(10)
    const [paid, poor, owner, late] = [
      await reserve(couponId, 1),
      await reserve(couponId, 2),
      await reserve(couponId, 3),
      await reserve(couponId, 4),
    ]
    await redis().srem(keys.buyers(couponId), '3') // Redis forgot this owner (an ALREADY_PURCHASED after a loss)
    const actions = [
      [paid.orderId, 'drop'],
      [poor.orderId, 'release'],
      [owner.orderId, 'keep-buyer'],
      [late.orderId, 'drop-buyer'],
    ] as const
    const runs = await Promise.all(Array.from({ length: 10 }, () => finishScript(redis(), couponId, actions.map(([o, a]) => [o, a]))))
    expect(runs.reduce((n, r) => n + r.removed, 0)).toBe(4)
    expect(runs.reduce((n, r) => n + r.restored, 0)).toBe(1)
    // paid keeps its unit; the poor buyer's unit came back; owner and sold-out keep theirs taken
    expect(await redis().get(keys.stock(couponId))).toBe('7')
    expect((await redis().smembers(keys.buyers(couponId))).sort()).toEqual(['1', '3'])
    expect(await redis().hlen(keys.pending(couponId))).toBe(0)
  })
})

describe('the purchase script (reserve between the rate-limit count and the recent list, one call)', () => {
  const recentKey = (userId: number) => keys.recentOrders(userId)
  const attempt = (couponId: number, userId: number, limit: number, orderId = newOrderId(couponId)) =>
    purchaseScript(redis() as Redis, couponId, { userId, orderId, price: 100, serverId: 'test' },
      { key: keys.rateLimit(userId), limit, windowMs: 1_000 }, { key: recentKey(userId), keep: 2, ttlSeconds: 60 })
      .then((answer) => ({ orderId, ...answer }))

  it('counts the attempt, reserves, and lists the order at the head of the shopper\'s recent orders', async () => {
    const couponId = await freshCoupon(5)
    const userId = 800_000_000 + couponId
    const first = await attempt(couponId, userId, 3)
    expect(first).toMatchObject({ status: 'OK', stockLeft: 4 })
    expect(await entryOf(couponId, first.orderId)).toMatchObject({ state: 'reserved', userId })
    expect(await redis().lrange(recentKey(userId), 0, -1)).toEqual([first.orderId])
    expect(await redis().ttl(recentKey(userId))).toBeGreaterThan(50)
    expect(Number(await redis().get(keys.rateLimit(userId)))).toBe(1)
    expect(await redis().pttl(keys.rateLimit(userId))).toBeGreaterThan(0)
    // an answer other than OK (the shopper's own pending order) is counted but not listed
    expect(await attempt(couponId, userId, 3)).toMatchObject({ status: 'PENDING', ownOrderId: first.orderId })
    expect(await redis().lrange(recentKey(userId), 0, -1)).toEqual([first.orderId])
    expect(Number(await redis().get(keys.rateLimit(userId)))).toBe(2)
  })

  it('over the limit answers RATE_LIMITED with the window\'s ms left and reserves nothing', async () => {
    const couponId = await freshCoupon(5)
    const userId = 800_000_000 + couponId
    await redis().set(keys.rateLimit(userId), 3, 'PX', 800)
    const refused = await attempt(couponId, userId, 3)
    expect(refused.status).toBe('RATE_LIMITED')
    expect((refused as { msLeft: number }).msLeft).toBeGreaterThan(0)
    expect((refused as { msLeft: number }).msLeft).toBeLessThanOrEqual(800)
    expect(await redis().get(keys.stock(couponId))).toBe('5')
    expect(await redis().hlen(keys.pending(couponId))).toBe(0)
    expect(await redis().exists(recentKey(userId))).toBe(0)
    // limit 0: nothing counted, nothing refused
    expect(await attempt(couponId, userId, 0)).toMatchObject({ status: 'OK', stockLeft: 4 })
    expect(await redis().get(keys.rateLimit(userId))).toBe('4')
  })

  it('keeps the recent list to its cap, newest first', async () => {
    const userId = 800_000_000 + nextCoupon
    await redis().del(recentKey(userId))
    const orders = []
    for (let i = 0; i < 3; i++) orders.push((await attempt(await freshCoupon(1), userId, 0)).orderId)
    expect(await redis().lrange(recentKey(userId), 0, -1)).toEqual([orders[2], orders[1]])
  })
})
