import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openStack } from '../../scripts/lib/stack.mjs'
import { closeDb } from '../../server/db'
import { closeRedis } from '../../server/redis/client'
import { createCouponOnSale, ensureStockLoaded, eventually } from '../support/data'
import { collect, liveClient } from '../support/live'
import { freePort, startWeb, type Proc } from '../support/processes'
import { createShoppers, type Shopper } from '../support/shoppers'

// NGINX as `npm start` runs it (same template, rendered by the stack library), in front of three web
// instances, with a low purchase limit so a burst from one address crosses it.
const webs: Proc[] = []
let nginx: { url: string, stop: () => Promise<void> }
let shopper: Shopper

beforeAll(async () => {
  await ensureStockLoaded()
  webs.push(...await Promise.all([startWeb(), startWeb(), startWeb()]))
  nginx = await openStack().startNginx({ name: 'nginx-test', port: await freePort(), upstreams: webs.map((w) => w.port), purchaseRate: 5, purchaseBurst: 5 })
  shopper = (await createShoppers(1))[0]!
}, 120_000)

afterAll(async () => {
  await nginx?.stop()
  await Promise.all(webs.map((w) => w.stop()))
  await closeRedis()
  await closeDb()
})

describe('NGINX in front of the web instances', () => {
  it('serves the API with security headers and a request id', async () => {
    const res = await fetch(`${nginx.url}/api/trpc/system.ping`)
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ result: { data: { ok: true } } })
    expect(res.headers.get('x-content-type-options')).toBe('nosniff')
    expect(res.headers.get('x-frame-options')).toBe('DENY')
    expect(res.headers.get('x-request-id')).toMatch(/^[\w.:-]+$/)
    expect((await fetch(`${nginx.url}/metrics`)).status).toBe(404) // only scraped per instance
  })

  it('serves the subscriptions on /ws: a shopper\'s (token in connectionParams) and a visitor\'s', async () => {
    const couponId = await createCouponOnSale({ stock: 3, price: 1 })
    const shopperClient = liveClient(nginx.url, { token: shopper!.token })
    const orders = collect((h) => shopperClient.api.order.onUpdate.subscribe(undefined, h))
    const visitor = liveClient(nginx.url)
    const stock = collect<{ stock: number }>((h) => visitor.api.coupon.onStock.subscribe({ couponIds: [couponId] }, h))
    await Promise.all([orders.started, stock.started])
    expect(await eventually(async () => stock.items[0], 5_000, 20)).toEqual({ couponId, stock: 3, soldOut: false })
    const forged = liveClient(nginx.url, { token: 'forged', retryDelayMs: () => 60_000 })
    const refused = collect((h) => forged.api.order.onUpdate.subscribe(undefined, h))
    await eventually(async () => forged.closes.length > 0 || undefined, 5_000, 20)
    expect(refused.starts()).toBe(0)
    await Promise.all([shopperClient.close(), visitor.close(), forged.close()])
  })

  it('answers a purchase burst above the limit with 429 in the API\'s error shape, never a 5xx', async () => {
    const couponId = await createCouponOnSale({ stock: 1000, price: 1 })
    const answers = await Promise.all(Array.from({ length: 40 }, async () => {
      const res = await fetch(`${nginx.url}/api/trpc/order.purchase`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${shopper!.token}` },
        body: JSON.stringify({ couponId }),
      })
      return { status: res.status, retryAfter: res.headers.get('retry-after'), body: await res.json() as { error?: { data: { reason?: string } } } }
    }))
    const limited = answers.filter((a) => a.status === 429)
    expect(limited.length).toBeGreaterThan(0)
    expect(answers.filter((a) => a.status >= 500)).toEqual([])
    expect(limited[0]).toMatchObject({ retryAfter: '1', body: { error: { data: { code: 'TOO_MANY_REQUESTS', httpStatus: 429, reason: 'RATE_LIMITED' } } } })
    // What got through reached the app: one purchase, the rest refused by the app itself.
    expect(new Set(answers.filter((a) => a.status !== 429).map((a) => a.status))).toEqual(new Set([200, 409]))
  })

  it('refuses a body over the size limit with 413 in the API\'s error shape', async () => {
    const res = await fetch(`${nginx.url}/api/trpc/order.purchase`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: 'x'.repeat(2 * 1024 * 1024) })
    expect(res.status).toBe(413)
    expect(await res.json()).toMatchObject({ error: { data: { code: 'PAYLOAD_TOO_LARGE', reason: 'PAYLOAD_TOO_LARGE' } } })
  })

  it('keeps serving when one of the three web instances is killed', async () => {
    await webs[1]!.stop('SIGKILL')
    expect(webs[1]!.proc.signalCode).toBe('SIGKILL')
    const statuses = []
    for (let i = 0; i < 30; i++) statuses.push((await fetch(`${nginx.url}/api/trpc/coupon.list`)).status)
    expect(statuses).toEqual(Array(30).fill(200))
  })
})
