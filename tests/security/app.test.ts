/**
 * What a web instance itself refuses or bounds, straight to it (no NGINX): metric labels from a closed
 * set, batch size and per-call limits, bad encodings, the Content-Type of POSTs, catalogue page shapes,
 * readiness without internal detail, and the Content-Security-Policy of pages.
 */
import { createHash, randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { closeDb } from '../../server/db'
import { closeRedis } from '../../server/redis/client'
import { createCouponOnSale, ensureStockLoaded } from '../support/data'
import { freePort, startWeb, type Proc } from '../support/processes'
import { accessToken, createUser } from '../support/keycloak'
import { createShoppers, type Shopper } from '../support/shoppers'
import { closeAgents, send } from './support'

let web: Proc
let shopper: Shopper
let batcher: Shopper
let adminToken: string

beforeAll(async () => {
  await ensureStockLoaded()
  const [started, shoppers, admin] = await Promise.all([
    startWeb({ PURCHASE_RATE_LIMIT: '5' }),
    createShoppers(2),
    createUser({ roles: ['admin'] }).then(accessToken),
  ])
  web = started
  adminToken = admin
  shopper = shoppers[0]!
  batcher = shoppers[1]!
}, 120_000)

afterAll(async () => {
  closeAgents()
  await web?.stop()
  await closeRedis()
  await closeDb()
})

const reasonOf = (json: unknown) => (json as { error?: { data?: { reason?: string } } } | undefined)?.error?.data?.reason
const auth = () => ({ authorization: `Bearer ${shopper.token}` })
const procedureSeries = async () => {
  const text = (await send(`${web.url}/metrics`)).text
  return new Set([...text.matchAll(/^flash_trpc_request_seconds_count\{[^}]*procedure="([^"]*)"/gm)].map((m) => m[1]))
}

describe('metric labels', () => {
  it('files calls to made-up procedure paths under one `unknown` label instead of a new series each', async () => {
    await send(`${web.url}/api/trpc/system.ping`)
    const before = await procedureSeries()
    for (let i = 0; i < 40; i++) expect((await send(`${web.url}/api/trpc/made.up${randomUUID().replaceAll('-', '')}`)).status).toBe(404)
    const after = await procedureSeries()
    expect([...after].filter((p) => !before.has(p))).toEqual(before.has('unknown') ? [] : ['unknown'])
    expect(after.has('system.ping')).toBe(true)
  })
})

describe('batches', () => {
  it(`refuses a batch of more than 10 calls, and counts each purchase of a batch against the shopper's limit`, async () => {
    const eleven = Array.from({ length: 11 }, () => 'system.ping').join(',')
    const big = await send(`${web.url}/api/trpc/${eleven}?batch=1&input=${encodeURIComponent('{}')}`)
    expect(big.status).toBe(400)
    expect(JSON.stringify(big.json)).toContain('INVALID_INPUT')

    const couponId = await createCouponOnSale({ stock: 100, price: 1 })
    const calls = Array.from({ length: 10 }, () => 'order.purchase').join(',')
    const input = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [i, { couponId }]))
    const batch = await send(`${web.url}/api/trpc/${calls}?batch=1`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${batcher.token}` },
      body: JSON.stringify(input),
    })
    const answers = batch.json as Array<{ result?: { data: { orderId: string } }, error?: { data: { reason: string } } }>
    // PURCHASE_RATE_LIMIT=5 here: five calls were counted, the other five refused by the limit
    expect(answers.map((r) => r.error?.data.reason).filter((r) => r === 'RATE_LIMITED')).toHaveLength(5)
    // the five counted made one order: the first reserved it, the others were answered with it (pending)
    const placed = answers.flatMap((r) => (r.result ? [r.result.data.orderId] : []))
    expect(placed).toHaveLength(5)
    expect(new Set(placed).size).toBe(1)
  })
})

describe('malformed requests', () => {
  it('answers a bad percent-encoding in the path with 400, not a 500 with a stack in the log', async () => {
    for (const path of ['%E0', '%E0%A4%A', 'coupon.list%FF', '%']) {
      const res = await send(`${web.url}/api/trpc/${path}?batch=1`)
      expect({ path, status: res.status, reason: reasonOf(res.json) }).toEqual({ path, status: 400, reason: 'INVALID_INPUT' })
    }
    expect(web.output()).not.toMatch(/URIError|procedure failed/)
  })

  it('requires application/json on POST: a form or text body is refused with 415 and changes nothing', async () => {
    const couponId = await createCouponOnSale({ stock: 5, price: 1 })
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', undefined]) {
      const headers: Record<string, string> = { ...auth() }
      if (type) headers['content-type'] = type
      const res = await send(`${web.url}/api/trpc/order.purchase`, { method: 'POST', headers, body: JSON.stringify({ couponId }) })
      expect({ type, status: res.status, reason: reasonOf(res.json), code: res.json?.error?.data?.code }).toEqual({
        type,
        status: 415,
        reason: 'INVALID_INPUT',
        code: 'UNSUPPORTED_MEDIA_TYPE',
      })
    }
    const ok = await send(`${web.url}/api/trpc/order.purchase`, {
      method: 'POST',
      headers: { 'content-type': 'application/json; charset=utf-8', ...auth() },
      body: JSON.stringify({ couponId }),
    })
    expect(ok.status).toBe(200)
  })

  it('bounds catalogue page shapes so a client cannot mint millions of cache keys', async () => {
    const list = (input: unknown) => send(`${web.url}/api/trpc/coupon.list?input=${encodeURIComponent(JSON.stringify(input))}`)
    for (const input of [
      { page: 100_000, pageSize: 50 },
      { page: 201, pageSize: 50 },
      { page: 10_001, pageSize: 1 },
      { page: 1, pageSize: 51 },
    ]) {
      const res = await list(input)
      expect({ input, status: res.status, reason: reasonOf(res.json) }).toEqual({ input, status: 400, reason: 'INVALID_INPUT' })
    }
    for (const input of [{ page: 200, pageSize: 50 }, { page: 833, pageSize: 12 }, {}]) expect((await list(input)).status).toBe(200)
  })
})

describe('sale dates', () => {
  it('compares a sale\'s start and end as instants and keeps them within 2000–9999, a start in the past included', async () => {
    const admin = { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' }
    const create = (dates: { saleStartsAt?: string, saleEndsAt?: string }) =>
      send(`${web.url}/api/trpc/admin.createCoupon`, {
        method: 'POST',
        headers: admin,
        body: JSON.stringify({ name: 'Dated', description: 'dates', price: 100, stock: 1, ...dates }),
      })
    const refused = [
      // 15:00Z → 11:00Z: the end is 4 h before the start, though its text sorts after it
      { saleStartsAt: '2030-01-01T10:00:00-05:00', saleEndsAt: '2030-01-01T11:00:00+00:00' },
      { saleStartsAt: '2030-01-01T10:00:00Z', saleEndsAt: '2030-01-01T05:00:00-05:00' }, // the same instant
      { saleEndsAt: '9999-12-31T22:00:00-05:00' }, // year 10000 in UTC
      { saleStartsAt: '1999-12-31T23:59:59Z' },
    ]
    for (const dates of refused) {
      const res = await create(dates)
      expect({ dates, status: res.status, reason: reasonOf(res.json) }).toEqual({ dates, status: 400, reason: 'INVALID_INPUT' })
    }
    const accepted = [
      { saleStartsAt: new Date(Date.now() - 86_400_000).toISOString(), saleEndsAt: '2030-01-01T10:00:00+02:00' }, // started yesterday
      { saleStartsAt: '2030-01-01T10:00:00+05:00', saleEndsAt: '2030-01-01T06:00:00Z' }, // 05:00Z → 06:00Z
      { saleEndsAt: '9999-12-31T18:00:00-05:00' },
    ]
    for (const dates of accepted) expect({ dates, status: (await create(dates)).status }).toEqual({ dates, status: 200 })
  })
})

describe('readiness and client-facing messages', () => {
  it('reports a dependency as failed without the error text (hosts, ports) it failed with', async () => {
    const deadKafka = `127.0.0.1:${await freePort()}`
    const broken = await startWeb({ KAFKA_BROKERS: deadKafka })
    try {
      const res = await send(`${broken.url}/readyz`)
      expect(res.status).toBe(503)
      expect(res.json).toEqual({ ok: false, mysql: 'ok', redis: 'ok', kafka: 'failed' })
      expect(res.text).not.toContain(deadKafka.split(':')[1])
    } finally {
      await broken.stop()
    }
  }, 60_000)
})

describe('Content-Security-Policy', () => {
  it('allows exactly the inline scripts of the page it is sent with, by hash, and no other inline code', async () => {
    const res = await send(`${web.url}/`)
    expect(res.status).toBe(200)
    const csp = String(res.headers['content-security-policy'])
    const scriptSrc = /script-src ([^;]*)/.exec(csp)![1]!.split(' ')
    const inline = [...res.text.matchAll(/<script(?![^>]*\ssrc=)([^>]*)>([\s\S]*?)<\/script>/g)]
      .filter(([, attrs, body]) => body && !/application\/(ld\+)?json/.test(attrs!))
      .map(([, , body]) => `'sha256-${createHash('sha256').update(body!).digest('base64')}'`)
    expect(inline.length).toBeGreaterThan(0) // Nuxt's runtime config script
    expect(scriptSrc.sort()).toEqual(["'self'", ...new Set(inline)].sort())
    expect(csp).toMatch(/object-src 'none'/)
    expect(csp).toMatch(/frame-ancestors 'none'/)
    expect(csp).not.toMatch(/script-src[^;]*(unsafe-inline|unsafe-eval)/)
  })
})
