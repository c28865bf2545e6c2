import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createConnection, type Connection } from 'mysql2/promise'
import { closeDb } from '../../server/db'
import { closeRedis } from '../../server/redis/client'
import { createCouponOnSale, eventually } from '../support/data'
import { accessToken, createUser } from '../support/keycloak'
import { collect, liveClient } from '../support/live'
import { startWeb, startWorker, untilReady, type Proc } from '../support/processes'
import { sample, scrape } from './support/backends'
import { call, type CallPath } from '../support/api'

/*
 * /metrics of a web instance and a worker move during a small burst of real purchases: requests per
 * procedure, purchase outcomes, cache levels, WebSocket connections, pub/sub, settlement, consumer lag.
 * The worker is held up on MySQL row locks for a moment so the lag is visible at a scrape.
 */

let web: Proc
let worker: Proc
let locker: Connection | undefined

beforeAll(async () => {
  ;[web, worker] = await Promise.all([startWeb(), startWorker()])
})

afterAll(async () => {
  await locker?.end().catch(() => {})
  await Promise.all([web?.stop(), worker?.stop()])
  await closeRedis()
  await closeDb()
})

const lagOf = (text: string) => sample(text, 'flash_kafka_consumer_lag', { topic: 'payment-requests' })

describe('/metrics during a purchase burst', () => {
  it('shows a fresh web instance connected its payment producer at start: ready, with the producer\'s id fetched, before any purchase', async () => {
    // Neither a purchase nor /readyz (which connects it too) has been asked of this instance yet.
    const producerRequests = (text: string, api: string) => sample(text, 'flash_kafka_requests_total', { client: 'producer', api })
    const connected = await eventually(async () => {
      const text = await scrape(web.url)
      return producerRequests(text, 'InitProducerId') >= 1 ? text : undefined
    }, 30_000)
    expect(connected).toBeDefined()
    expect(producerRequests(connected!, 'Produce')).toBe(0)
    await untilReady(web.url)
  })

  it('counts procedures, outcomes, cache levels, sockets, pub/sub, settlement and consumer lag, and logs the requestId at settlement', async () => {
    // Events an earlier file left in Kafka (orders it settled in-process) are this worker's first
    // batches: once they are drained, this burst's settlements are counted from there.
    const drained = await eventually(async () => {
      const text = await scrape(worker.url)
      return lagOf(text) === 0 ? text : undefined
    }, 30_000)
    expect(drained).toBeDefined()
    const paidBefore = sample(drained!, 'flash_payments_settled_total', { status: 'PAID' })

    const couponId = await createCouponOnSale({ stock: 4, price: 100 })
    const users = await Promise.all(Array.from({ length: 6 }, () => createUser()))
    const tokens = await Promise.all(users.map((u) => accessToken(u)))
    const ids = await Promise.all(tokens.map(async (token) => (await call(web.url, 'user.me', { token })).data!.id))

    const client = liveClient(web.url, { token: tokens[0] })
    const updates = collect<{ data: { orderId: string, status: string } }>((h) => client.api.order.onUpdate.subscribe(undefined, h))
    await updates.started
    const open = await scrape(web.url)
    expect([sample(open, 'flash_ws_connections'), sample(open, 'flash_ws_subscriptions')]).toEqual([1, 1])

    // Browsing: the first read misses both cache levels, the second hits L1.
    for (let i = 0; i < 2; i++) expect((await call(web.url, 'coupon.get', { input: { id: couponId } })).status).toBe(200)
    const browsing = await scrape(web.url)
    expect(sample(browsing, 'flash_cache_requests_total', { level: 'l1', result: 'miss' })).toBeGreaterThanOrEqual(1)
    expect(sample(browsing, 'flash_cache_requests_total', { level: 'l2', result: 'miss' })).toBeGreaterThanOrEqual(1)
    expect(sample(browsing, 'flash_cache_requests_total', { level: 'l1', result: 'hit' })).toBeGreaterThanOrEqual(1)
    expect(sample(browsing, 'flash_trpc_request_seconds_count', { procedure: 'coupon.get' satisfies CallPath, code: 'OK' })).toBe(2)

    // Hold the shoppers' rows so the worker cannot settle yet: its lag shows.
    locker = await createConnection({ uri: process.env.DATABASE_URL! })
    await locker.query('START TRANSACTION')
    await locker.query(`SELECT id FROM users WHERE id IN (${ids.join(',')}) FOR UPDATE`)

    const traceId = `trace-${randomUUID()}`
    const first = await call(web.url, 'order.purchase', {
      input: { couponId },
      token: tokens[0],
      mutation: true,
      headers: { 'x-request-id': traceId },
    })
    expect(first.headers.get('x-request-id')).toBe(traceId)
    expect(first.data).toMatchObject({ status: 'PENDING' })
    const rest = await Promise.all(
      tokens.slice(1).map((token) => call(web.url, 'order.purchase', { input: { couponId }, token, mutation: true })),
    )
    const again = await call(web.url, 'order.purchase', { input: { couponId }, token: tokens[0], mutation: true })
    expect(rest.filter((r) => r.status === 200)).toHaveLength(3)
    // Every unit is held by a pending order that may still fail: TRY_AGAIN_LATER, not SOLD_OUT.
    expect(rest.filter((r) => r.reason === 'TRY_AGAIN_LATER')).toHaveLength(2)
    expect(again.data).toEqual({ orderId: first.data!.orderId, status: 'PENDING' }) // the shopper's own reservation is pending

    const lagging = await eventually(async () => lagOf(await scrape(worker.url)) >= 4, 15_000)
    expect(lagging).toBe(true)
    await locker.query('ROLLBACK')

    const settled = await eventually(async () => {
      const text = await scrape(worker.url)
      return sample(text, 'flash_payments_settled_total', { status: 'PAID' }) >= paidBefore + 4 && lagOf(text) === 0 ? text : undefined
    }, 30_000)
    expect(settled).toBeDefined()
    expect(sample(settled!, 'flash_payments_settled_total', { status: 'PAID' }) - paidBefore).toBe(4)
    expect(sample(settled!, 'flash_settle_latency_seconds_count')).toBeGreaterThanOrEqual(4)
    expect(sample(settled!, 'flash_settle_batch_seconds_count')).toBeGreaterThanOrEqual(1)
    expect(sample(settled!, 'flash_pubsub_published_total')).toBeGreaterThanOrEqual(1)

    const told = (await eventually(async () => updates.items.find((u) => u.data.orderId === first.data!.orderId), 10_000, 50))!
    expect(told.data).toMatchObject({ status: 'PAID' })

    const after = await scrape(web.url)
    expect(sample(after, 'flash_trpc_request_seconds_count', { procedure: 'order.purchase' satisfies CallPath, code: 'OK' })).toBe(5)
    expect(
      sample(after, 'flash_trpc_request_seconds_count', { procedure: 'order.purchase' satisfies CallPath, code: 'SERVICE_UNAVAILABLE' }),
    ).toBe(2)
    expect(sample(after, 'flash_purchase_attempts_total', { outcome: 'PENDING' })).toBe(5)
    expect(sample(after, 'flash_pubsub_deliveries_total')).toBeGreaterThanOrEqual(1)

    const settledLine = worker
      .output()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l))
      .find((l) => l.msg === 'order settled' && l.requestId === traceId)
    expect(settledLine).toMatchObject({ orderId: first.data!.orderId, status: 'PAID', service: 'worker' })

    await client.close()
    expect(await eventually(async () => sample(await scrape(web.url), 'flash_ws_connections') === 0, 10_000)).toBe(true)
    expect(sample(await scrape(web.url), 'flash_ws_subscriptions')).toBe(0)
  })
})

describe('/metrics of calls the fast lane does not serve', () => {
  it('records a batch of several calls, and every call of a web with TRPC_FAST_LANE=off, as the fast lane does', async () => {
    const couponId = await createCouponOnSale({ stock: 3, price: 100 })
    const count = (text: string, procedure: CallPath | 'unknown', code: string) =>
      sample(text, 'flash_trpc_request_seconds_count', { procedure, code })

    // tRPC's standard handler serves a batch of several calls, on the fast-lane web too
    const before = await scrape(web.url)
    const input = encodeURIComponent(JSON.stringify({ 0: { id: couponId }, 1: { id: 2_000_000_000 }, 2: {} }))
    const paths: CallPath[] = ['coupon.get', 'coupon.get', 'system.ping']
    const batch = await fetch(`${web.url}/api/trpc/${paths.join(',')}?batch=1&input=${input}`)
    expect(batch.status).toBe(207) // the second call is NOT_FOUND
    const batched = await scrape(web.url)
    expect(count(batched, 'coupon.get', 'OK') - count(before, 'coupon.get', 'OK')).toBe(1)
    expect(count(batched, 'coupon.get', 'NOT_FOUND') - count(before, 'coupon.get', 'NOT_FOUND')).toBe(1)
    expect(count(batched, 'system.ping', 'OK') - count(before, 'system.ping', 'OK')).toBe(1)

    const laneOff = await startWeb({ TRPC_FAST_LANE: 'off' })
    try {
      const token = await accessToken(await createUser())
      expect((await call(laneOff.url, 'coupon.get', { input: { id: couponId } })).status).toBe(200)
      const bought = await call(laneOff.url, 'order.purchase', { input: { couponId }, token, mutation: true })
      expect(bought.data).toMatchObject({ status: 'PENDING' })
      // paid (while pending, a repeat would be answered with the order itself): a repeat is ALREADY_PURCHASED
      expect(
        await eventually(
          async () => (await call(laneOff.url, 'order.get', { input: { orderId: bought.data!.orderId }, token })).data?.status === 'PAID',
          20_000,
        ),
      ).toBe(true)
      expect((await call(laneOff.url, 'order.purchase', { input: { couponId }, token, mutation: true })).status).toBe(409)
      expect((await call(laneOff.url, 'order.purchase', { input: { couponId }, mutation: true })).status).toBe(401)
      expect((await fetch(`${laneOff.url}/api/trpc/made.up${randomUUID().replaceAll('-', '')}`)).status).toBe(404)

      const off = await scrape(laneOff.url)
      expect(count(off, 'coupon.get', 'OK')).toBe(1)
      expect(count(off, 'order.purchase', 'OK')).toBe(1)
      expect(count(off, 'order.purchase', 'CONFLICT')).toBe(1)
      expect(count(off, 'order.purchase', 'UNAUTHORIZED')).toBe(1)
      expect(count(off, 'unknown', 'NOT_FOUND')).toBe(1)
      expect(sample(off, 'flash_purchase_attempts_total', { outcome: 'PENDING' })).toBe(1)
      expect(sample(off, 'flash_purchase_attempts_total', { outcome: 'ALREADY_PURCHASED' })).toBe(1)
      expect(sample(off, 'flash_trpc_request_seconds_sum', { procedure: 'order.purchase' satisfies CallPath, code: 'OK' })).toBeGreaterThan(
        0,
      )
      // refusals are answers, not internal errors: nothing was logged as one
      expect(laneOff.output()).not.toContain('procedure failed')
    } finally {
      await laneOff.stop()
    }
  })
})
