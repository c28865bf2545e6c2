import { afterAll, describe, expect, it } from 'vitest'
import { redis, closeRedis } from '../../server/redis/client'
import { keys } from '../../server/redis/keys'
import { StockFeed } from '../../server/realtime/stock-feed'

const stackReady = Boolean(process.env.REDIS_URL)

/** A socket that keeps what it was sent. */
function socket() {
  const sent: { type: string, couponId: number, stock: number }[] = []
  return { sent, send: (data: string) => { sent.push(JSON.parse(data)) }, close: () => {} }
}

describe.skipIf(!stackReady)('live stock feed', () => {
  const feed = new StockFeed(redis, 60_000) // ticks are driven by hand here
  afterAll(async () => {
    feed.stop()
    await closeRedis()
  })

  it('pushes a watched coupon\'s stock when it changes, once per tick however many purchases happened', async () => {
    const couponId = 900_000_000 + Math.floor(Math.random() * 1_000_000)
    await redis().set(keys.stock(couponId), 100)
    const [a, b, other] = [socket(), socket(), socket()]
    expect(feed.handle(a, JSON.stringify({ type: 'subscribe', couponId }))).toBe(true)
    feed.subscribe(b, couponId)
    feed.subscribe(other, couponId + 1)
    await feed.tick()
    expect(a.sent).toEqual([{ type: 'stock', couponId, stock: 100 }])
    expect(other.sent).toEqual([])

    await feed.tick() // nothing changed: nothing sent
    expect(a.sent).toHaveLength(1)

    // 250 reservations between two ticks: one message with the result.
    await Promise.all(Array.from({ length: 250 }, () => redis().decr(keys.stock(couponId))))
    await feed.tick()
    expect(a.sent.at(-1)).toEqual({ type: 'stock', couponId, stock: 0 })
    expect(b.sent).toEqual(a.sent)
    expect(a.sent).toHaveLength(2)

    // A late subscriber gets the last known stock at once; a closed socket gets nothing more.
    const late = socket()
    feed.subscribe(late, couponId)
    expect(late.sent).toEqual([{ type: 'stock', couponId, stock: 0 }])
    feed.drop(a)
    await redis().set(keys.stock(couponId), 7)
    await feed.tick()
    expect(a.sent).toHaveLength(2)
    expect(b.sent.at(-1)).toEqual({ type: 'stock', couponId, stock: 7 })
    await redis().del(keys.stock(couponId))
  })

  it('ignores messages that are not subscriptions, and caps the coupons one socket watches', () => {
    const s = socket()
    for (const bad of ['not json', '{"type":"subscribe","couponId":"1"}', '{"type":"subscribe","couponId":-1}', '{"type":"other","couponId":1}']) {
      expect(feed.handle(s, bad)).toBe(false)
    }
    const before = feed.couponCount
    for (let id = 1; id <= 10; id++) feed.subscribe(s, 800_000_000 + id)
    expect(feed.couponCount - before).toBe(4)
    feed.drop(s)
    expect(feed.couponCount).toBe(before)
  })
})
