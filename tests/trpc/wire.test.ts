import { request } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTRPCClient, httpBatchLink, httpLink, TRPCClientError } from '@trpc/client'
import type { AppRouter } from '../../server/trpc/routers/_app'
import { closeDb } from '../../server/db'
import { closeRedis } from '../../server/redis/client'
import { createCouponOnSale, ensureStockLoaded } from '../support/data'
import { startWeb, type Proc } from '../support/processes'
import { createShoppers, type Shopper } from '../support/shoppers'

let fast: Proc
let standard: Proc
let shopper: Shopper
let couponId: number

beforeAll(async () => {
  await ensureStockLoaded()
  ;[fast, standard] = await Promise.all([startWeb(), startWeb({ TRPC_FAST_LANE: 'off' })])
  shopper = (await createShoppers(1))[0]!
  couponId = await createCouponOnSale({ stock: 0, price: 100 })
}, 120_000)

afterAll(async () => {
  await Promise.all([fast?.stop(), standard?.stop()])
  await closeRedis()
  await closeDb()
})

interface Req { name: string, method?: string, path: string, body?: string, headers?: Record<string, string> }

async function answer(base: string, req: Req) {
  const res = await fetch(`${base}${req.path}`, { method: req.method ?? 'GET', body: req.body, headers: req.headers })
  return {
    status: res.status,
    retryAfter: res.headers.get('retry-after'),
    allow: res.headers.get('allow'),
    contentType: res.headers.get('content-type'),
    body: (await res.json()) as unknown,
  }
}

const q = (input: unknown) => encodeURIComponent(JSON.stringify(input))
const json = { 'content-type': 'application/json' }

describe('the fast lane speaks tRPC\'s wire format', () => {
  it('answers every kind of single call exactly like the standard handler', async () => {
    const bearer = { authorization: `Bearer ${shopper.token}` }
    const requests: Req[] = [
      { name: 'query', path: '/api/trpc/system.ping' },
      { name: 'query, batch of one', path: `/api/trpc/coupon.get?batch=1&input=${q({ 0: { id: couponId } })}` },
      { name: 'query with input', path: `/api/trpc/coupon.list?input=${q({ page: 1, pageSize: 2 })}` },
      { name: 'unknown coupon', path: `/api/trpc/coupon.get?input=${q({ id: 2_000_000_000 })}` },
      { name: 'invalid input', path: `/api/trpc/coupon.get?input=${q({ id: 'x' })}` },
      { name: 'invalid input, batch', path: `/api/trpc/coupon.get?batch=1&input=${q({ 0: { id: -1 } })}` },
      { name: 'not JSON', path: '/api/trpc/coupon.get?input=%7Bnope' },
      { name: 'unknown procedure', path: '/api/trpc/coupon.nope' },
      { name: 'GET on a mutation', path: '/api/trpc/order.purchase' },
      { name: 'POST on a query', method: 'POST', path: '/api/trpc/coupon.list', body: '{}', headers: json },
      { name: 'anonymous protected query', path: '/api/trpc/user.me' },
      { name: 'forged token', path: '/api/trpc/user.me', headers: { authorization: 'Bearer abc.def.ghi' } },
      { name: 'signed-in query', path: '/api/trpc/user.me', headers: bearer },
      {
        name: 'mutation refused: sold out',
        method: 'POST',
        path: '/api/trpc/order.purchase',
        body: JSON.stringify({ couponId }),
        headers: { ...json, ...bearer },
      },
      {
        name: 'mutation refused, batch',
        method: 'POST',
        path: '/api/trpc/order.purchase?batch=1',
        body: JSON.stringify({ 0: { couponId } }),
        headers: { ...json, ...bearer },
      },
      {
        name: 'mutation with bad input',
        method: 'POST',
        path: '/api/trpc/order.purchase',
        body: '{"couponId":1.5}',
        headers: { ...json, ...bearer },
      },
      {
        name: 'forbidden admin call',
        method: 'POST',
        path: '/api/trpc/admin.grantCredit',
        body: '{"userId":1,"amount":5}',
        headers: { ...json, ...bearer },
      },
    ]
    for (const req of requests) {
      const [a, b] = [await answer(fast.url, req), await answer(standard.url, req)]
      expect({ name: req.name, ...a }).toEqual({ name: req.name, ...b })
    }
  })

  it('serves batches of several calls through the standard handler', async () => {
    const res = await answer(fast.url, { name: 'batch', path: `/api/trpc/system.ping,coupon.get?batch=1&input=${q({ 1: { id: couponId } })}` })
    expect(res.status).toBe(200)
    expect(res.body).toEqual([
      { result: { data: { ok: true } } },
      { result: { data: expect.objectContaining({ id: couponId, stock: 0 }) } },
    ])
  })

  it('answers a method a procedure does not take with 405, the method it does take in Allow, and the one refusal body', async () => {
    // node:http rather than fetch, which refuses to send TRACE
    const send = (base: string, method: string, path: string) =>
      new Promise<{ status: number, allow?: string, body: string }>((resolve, reject) => {
        const req = request(`${base}${path}`, { method, headers: method === 'POST' ? json : {} }, (res) => {
          let body = ''
          res.on('data', (chunk: Buffer) => {
            body += chunk
          })
          res.on('end', () => resolve({ status: res.statusCode!, allow: res.headers.allow, body }))
        })
        req.on('error', reject)
        req.end(method === 'POST' ? '{}' : undefined)
      })
    const cases = [
      ...['TRACE', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD', 'POST'].map((method) => ({
        method,
        path: '/api/trpc/coupon.list',
        allow: 'GET',
      })),
      ...['TRACE', 'PUT', 'DELETE', 'OPTIONS', 'GET'].map((method) => ({ method, path: '/api/trpc/order.purchase', allow: 'POST' })),
      { method: 'DELETE', path: `/api/trpc/coupon.get?batch=1&input=${q({ 0: { id: couponId } })}`, allow: 'GET' },
      { method: 'GET', path: `/api/trpc/order.purchase,order.purchase?batch=1&input=${q({})}`, allow: 'POST' },
    ]
    for (const base of [fast.url, standard.url]) {
      for (const { method, path, allow } of cases) {
        const res = await send(base, method, path)
        expect({ method, path, status: res.status, allow: res.allow }).toEqual({ method, path, status: 405, allow })
        if (method === 'HEAD') continue
        const body = JSON.parse(res.body)
        const error = Array.isArray(body) ? body.find((b) => b.error?.data?.code === 'METHOD_NOT_SUPPORTED').error : body.error
        expect(error).toMatchObject({ code: -32005, data: { code: 'METHOD_NOT_SUPPORTED', httpStatus: 405, reason: 'INVALID_INPUT' } })
      }
      expect((await send(base, 'PUT', '/api/trpc/coupon.nope')).status).toBe(404)
    }
  })

  it('refuses a body over 64 KB with PAYLOAD_TOO_LARGE before parsing it', async () => {
    const res = await answer(fast.url, {
      name: 'huge',
      method: 'POST',
      path: '/api/trpc/order.purchase',
      body: JSON.stringify({ couponId, pad: 'x'.repeat(100_000) }),
      headers: { ...json, authorization: `Bearer ${shopper.token}` },
    })
    expect(res).toMatchObject({ status: 413, body: { error: { data: { code: 'PAYLOAD_TOO_LARGE', reason: 'PAYLOAD_TOO_LARGE' } } } })
  })

  it('reads a mutation\'s body whether it arrives with its headers, after them, or in chunks', async () => {
    // node:http, to choose how the body travels: one write with the headers, a second write 50 ms
    // after them (the fast lane's read in the same turn finds no body yet), or chunked in two pieces
    const post = (base: string, body: string, how: 'with headers' | 'after headers' | 'chunked') =>
      new Promise<{ status: number, reason?: string }>((resolve, reject) => {
        const headers: Record<string, string> = { ...json, authorization: `Bearer ${shopper.token}` }
        if (how !== 'chunked') headers['content-length'] = String(Buffer.byteLength(body))
        const req = request(`${base}/api/trpc/order.purchase`, { method: 'POST', headers }, (res) => {
          let text = ''
          res.on('data', (chunk: Buffer) => { text += chunk })
          res.on('end', () => resolve({ status: res.statusCode!, reason: JSON.parse(text).error?.data?.reason }))
        })
        req.on('error', reject)
        if (how === 'with headers') return req.end(body)
        req.flushHeaders()
        const half = body.length >> 1
        setTimeout(() => {
          if (how === 'after headers') return req.end(body)
          req.write(body.slice(0, half))
          setTimeout(() => req.end(body.slice(half)), 20)
        }, 50)
      })
    const body = JSON.stringify({ couponId })
    for (const how of ['with headers', 'after headers', 'chunked'] as const) {
      for (const base of [fast.url, standard.url]) {
        expect({ how, ...(await post(base, body, how)) }).toEqual({ how, status: 409, reason: 'SOLD_OUT' })
      }
      // and a body that is not the input is refused as such, however it came
      expect({ how, ...(await post(fast.url, '{"couponId":"x"}', how)) }).toEqual({ how, status: 400, reason: 'INVALID_INPUT' })
    }
  })

  it('works with the typed @trpc/client, batched or not, and surfaces reasons on errors', async () => {
    for (const link of [
      httpBatchLink({ url: `${fast.url}/api/trpc`, headers: { authorization: `Bearer ${shopper.token}` } }),
      httpLink({ url: `${fast.url}/api/trpc`, headers: { authorization: `Bearer ${shopper.token}` } }),
    ]) {
      const client = createTRPCClient<AppRouter>({ links: [link] })
      const [ping, coupon, me] = await Promise.all([
        client.system.ping.query(),
        client.coupon.get.query({ id: couponId }),
        client.user.me.query(),
      ])
      expect(ping).toEqual({ ok: true })
      expect(coupon).toMatchObject({ id: couponId, stock: 0, price: 100 })
      expect(me).toMatchObject({ email: shopper.email, credit: 10_000, isAdmin: false })
      const error = await client.order.purchase.mutate({ couponId }).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(TRPCClientError)
      expect((error as TRPCClientError<AppRouter>).data).toMatchObject({ code: 'CONFLICT', httpStatus: 409, reason: 'SOLD_OUT' })
    }
  })
})
