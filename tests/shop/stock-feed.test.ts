import { afterAll, describe, expect, it } from 'vitest'
import { closeDb } from '../../server/db'
import { redis, closeRedis } from '../../server/redis/client'
import { keys } from '../../server/redis/keys'
import { StockFeed, type StockUpdate } from '../../server/realtime/stock-feed'
import { createCouponOnSale, eventually } from '../support/data'
import { collect, liveClient } from '../support/live'
import { startWeb, startWorker, type Proc } from '../support/processes'
import { createShoppers } from '../support/shoppers'
import { call } from '../support/api'

const stackReady = Boolean(process.env.REDIS_URL)

describe.skipIf(!stackReady)('live stock feed', () => {
  const feed = new StockFeed(redis, 60_000) // ticks are driven by hand here
  let web: Proc | undefined
  let worker: Proc | undefined
  afterAll(async () => {
    feed.stop()
    await Promise.all([web?.stop(), worker?.stop()])
    await closeRedis()
    await closeDb()
  })

  it('gives the current stock first, then one message per tick with the result however many purchases happened', async () => {
    const couponId = 900_000_000 + Math.floor(Math.random() * 1_000_000)
    await redis().set(keys.stock(couponId), 100)
    const a: StockUpdate[] = []
    const b: StockUpdate[] = []
    const other: StockUpdate[] = []
    const stopA = await feed.watch([couponId], (u) => a.push(u))
    await feed.watch([couponId], (u) => b.push(u))
    await feed.watch([couponId + 1], (u) => other.push(u))
    expect(a).toEqual([{ couponId, stock: 100, soldOut: false }])
    expect(other).toEqual([]) // Redis holds no stock for it: nothing to say

    await feed.tick() // nothing changed: nothing sent
    expect(a).toHaveLength(1)

    // 250 reservations between two ticks: one message with the result.
    await Promise.all(Array.from({ length: 250 }, () => redis().decr(keys.stock(couponId))))
    await feed.tick()
    expect(a.at(-1)).toEqual({ couponId, stock: 0, soldOut: true })
    expect(b).toEqual(a)
    expect(a).toHaveLength(2)

    // A late watcher gets the last known stock at once; one that stopped gets nothing more.
    const late: StockUpdate[] = []
    await feed.watch([couponId], (u) => late.push(u))
    expect(late).toEqual([{ couponId, stock: 0, soldOut: true }])
    stopA()
    await redis().set(keys.stock(couponId), 7)
    await feed.tick()
    expect(a).toHaveLength(2)
    expect(b.at(-1)).toEqual({ couponId, stock: 7, soldOut: false })
    await redis().del(keys.stock(couponId))
  })

  it('is not sold out while pending orders hold the last units (they may come back)', async () => {
    const couponId = 900_000_000 + Math.floor(Math.random() * 1_000_000)
    await redis().set(keys.stock(couponId), 0)
    await redis().hset(keys.pending(couponId), `${couponId}-01JF00000000000000000000AA`, '{}')
    const seen: StockUpdate[] = []
    await feed.watch([couponId], (u) => seen.push(u))
    expect(seen).toEqual([{ couponId, stock: 0, soldOut: false }])
    await redis().del(keys.pending(couponId))
    await feed.tick()
    expect(seen.at(-1)).toEqual({ couponId, stock: 0, soldOut: true })
    await redis().del(keys.stock(couponId))
  })

  it('shows an anonymous coupon.onStock subscriber the stock falling as shoppers buy', async () => {
    const [started, settling, shoppers, couponId] = await Promise.all([
      startWeb(),
      startWorker(),
      createShoppers(3),
      createCouponOnSale({ stock: 5, price: 100 }),
    ])
    ;[web, worker] = [started, settling]
    const visitor = liveClient(web.url)
    const stock = collect<StockUpdate>((h) => visitor.api.coupon.onStock.subscribe({ couponIds: [couponId] }, h))
    await stock.started
    await eventually(async () => stock.items.length > 0 || undefined, 5_000, 20)
    expect(stock.items[0]).toEqual({ couponId, stock: 5, soldOut: false })
    for (const s of shoppers) {
      expect((await call(web.url, 'order.purchase', { input: { couponId }, token: s.token, mutation: true })).status).toBe(200)
    }
    const last = await eventually(async () => (stock.items.at(-1)?.stock === 2 ? stock.items.at(-1) : undefined), 5_000, 20)
    expect(last).toEqual({ couponId, stock: 2, soldOut: false })
    // the purchases settle (nothing left for a later test's worker), and the stock stays where it fell
    await eventually(async () => (await redis().hlen(keys.pending(couponId))) === 0 || undefined, 30_000, 100)
    // coalesced: never more than one message per tick (250 ms), and never a value going up
    expect(stock.items.length).toBeLessThanOrEqual(4)
    expect(stock.items.map((u) => u.stock)).toEqual([...stock.items.map((u) => u.stock)].sort((x, y) => y - x))
    stock.stop()
    await visitor.close()
  })
})
