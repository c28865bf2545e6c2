import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openStack } from '../../scripts/lib/stack.mjs'
import { closeDb } from '../../server/db'
import { closeRedis, redis } from '../../server/redis/client'
import { keys } from '../../server/redis/keys'
import { createCouponOnSale, ensureStockLoaded, eventually } from '../support/data'
import { collect, liveClient } from '../support/live'
import { freePort, startWeb, type Proc } from '../support/processes'
import { createShoppers, type Shopper } from '../support/shoppers'
import { call, procedureUrl } from '../support/api'

// NGINX as `npm start` runs it (same template, rendered by the stack library), in front of three web
// instances, with a low purchase limit so a burst from one address crosses it.
const webs: Proc[] = []
let nginx: { url: string, stop: () => Promise<void> }
let shopper: Shopper

beforeAll(async () => {
  await ensureStockLoaded()
  webs.push(...await Promise.all([startWeb(), startWeb(), startWeb()]))
  nginx = await openStack().startNginx({
    name: 'nginx-test',
    port: await freePort(),
    upstreams: webs.map((w) => w.port),
    purchaseRate: 5,
    purchaseBurst: 5,
  })
  shopper = (await createShoppers(1))[0]!
}, 120_000)

afterAll(async () => {
  await nginx?.stop()
  await Promise.all(webs.map((w) => w.stop()))
  await closeRedis()
  await closeDb()
})

async function purchase(base: string, couponId: number) {
  const started = performance.now()
  const res = await fetch(procedureUrl(base, 'order.purchase'), {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${shopper.token}` },
    body: JSON.stringify({ couponId }),
  })
  const body = await res.json() as { error?: { data: { code: string, httpStatus: number, reason?: string } } }
  return {
    status: res.status,
    refusedBy: res.headers.get('x-refused-by'),
    retryAfter: res.headers.get('retry-after'),
    body,
    ms: performance.now() - started,
  }
}

describe('NGINX in front of the web instances', () => {
  it('serves the API with security headers and a request id', async () => {
    const res = await fetch(procedureUrl(nginx.url, 'system.ping'))
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
      const res = await fetch(procedureUrl(nginx.url, 'order.purchase'), {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${shopper!.token}` },
        body: JSON.stringify({ couponId }),
      })
      return {
        status: res.status,
        retryAfter: res.headers.get('retry-after'),
        body: (await res.json()) as { result?: { data: { orderId: string } }, error?: { data: { reason?: string } } },
      }
    }))
    const limited = answers.filter((a) => a.status === 429)
    expect(limited.length).toBeGreaterThan(0)
    expect(answers.filter((a) => a.status >= 500)).toEqual([])
    expect(limited[0]).toMatchObject({
      retryAfter: '1',
      body: { error: { data: { code: 'TOO_MANY_REQUESTS', httpStatus: 429, reason: 'RATE_LIMITED' } } },
    })
    // What got through reached the app: one order, and the shopper's other attempts were answered with it.
    const through = answers.filter((a) => a.status !== 429)
    expect(through.map((a) => a.status)).toEqual(through.map(() => 200))
    expect(new Set(through.map((a) => a.body.result?.data.orderId)).size).toBe(1)
  })

  it('refuses a body over the size limit with 413 in the API\'s error shape', async () => {
    const res = await fetch(procedureUrl(nginx.url, 'order.purchase'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: 'x'.repeat(2 * 1024 * 1024),
    })
    expect(res.status).toBe(413)
    expect(await res.json()).toMatchObject({ error: { data: { code: 'PAYLOAD_TOO_LARGE', reason: 'PAYLOAD_TOO_LARGE' } } })
  })

  it('answers a purchase no instance took (every connect refused) with TRY_AGAIN_LATER', async () => {
    const edge = await openStack().startNginx({
      name: 'nginx-refused',
      port: await freePort(),
      upstreams: [await freePort(), await freePort()],
    })
    try {
      const res = await purchase(edge.url, await createCouponOnSale({ stock: 1, price: 1 }))
      expect(res).toMatchObject({
        status: 503,
        refusedBy: 'nginx',
        retryAfter: '1',
        body: { error: { data: { code: 'SERVICE_UNAVAILABLE', httpStatus: 503, reason: 'TRY_AGAIN_LATER' } } },
      })
    } finally {
      await edge.stop()
    }
  })

  it('answers a purchase an instance took and then sat on (SIGSTOP) with OUTCOME_UNKNOWN within about 5 s — and it was carried out', async () => {
    const couponId = await createCouponOnSale({ stock: 1, price: 1 })
    const stalled = webs[2]!
    const edge = await openStack().startNginx({ name: 'nginx-stalled', port: await freePort(), upstreams: [stalled.port] })
    stalled.proc.kill('SIGSTOP')
    let res: Awaited<ReturnType<typeof purchase>>
    try {
      res = await purchase(edge.url, couponId)
    } finally {
      stalled.proc.kill('SIGCONT')
      await edge.stop()
    }
    expect(res).toMatchObject({
      status: 504,
      refusedBy: 'nginx',
      retryAfter: null,
      body: { error: { data: { code: 'GATEWAY_TIMEOUT', httpStatus: 504, reason: 'OUTCOME_UNKNOWN' } } },
    })
    expect(res.ms).toBeGreaterThan(4_500)
    expect(res.ms).toBeLessThan(6_500)
    // "Try again later" would have been false: once resumed, the instance reserved the unit.
    const mine = await eventually(async () => {
      const orders = await call(webs[0]!.url, 'order.mine', { token: shopper.token })
      return orders.data?.items.find((o) => o.couponId === couponId)
    })
    expect(mine).toMatchObject({ couponId, status: 'PENDING' })
  })

  it('answers a purchase whose instance reserved the unit and died (SIGKILL) with OUTCOME_UNKNOWN', async () => {
    const couponId = await createCouponOnSale({ stock: 1, price: 1 })
    const doomed = await startWeb({ FLASH_SALE_FAILPOINTS: 'web.after-reserve=kill' })
    const edge = await openStack().startNginx({ name: 'nginx-died', port: await freePort(), upstreams: [doomed.port] })
    try {
      const res = await purchase(edge.url, couponId)
      expect(await eventually(async () => doomed.proc.signalCode)).toBe('SIGKILL')
      expect(res).toMatchObject({
        status: 504,
        refusedBy: 'nginx',
        retryAfter: null,
        body: { error: { data: { reason: 'OUTCOME_UNKNOWN' } } },
      })
      // the reservation stands: the reconciler will publish it and the order will be charged
      const entries = Object.values(await redis().hgetall(keys.pending(couponId))).map((e) => JSON.parse(e) as { userId: number })
      expect(entries).toHaveLength(1)
    } finally {
      await edge.stop()
      await doomed.stop()
    }
  })

  it('keeps serving when one of the three web instances is killed', async () => {
    await webs[1]!.stop('SIGKILL')
    expect(webs[1]!.proc.signalCode).toBe('SIGKILL')
    const statuses = []
    for (let i = 0; i < 30; i++) statuses.push((await fetch(procedureUrl(nginx.url, 'coupon.list'))).status)
    expect(statuses).toEqual(Array(30).fill(200))
  })
})
