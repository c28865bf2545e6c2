import { spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { Redis } from 'ioredis'
import { Kafka, logLevel, type Producer } from 'kafkajs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createDb, type DB } from '../../server/db'
import { topics } from '../../server/kafka/client'
import { newOrderId } from '../../server/domain/orders/ids'
import { keys } from '../../server/redis/keys'
import { ensureScripts, reserveScript } from '../../server/redis/scripts'
import { eventually } from '../support/data'
import { startWorker, type Proc } from '../support/processes'
import { createScratchDatabase, sample, startRedisServer, type RedisServers, type ScratchDatabase } from './support/backends'
import { paymentEvent } from '../support/reservations'

/*
 * `npx flash-sale …` (bin/flash-sale.mjs → .output/worker/cli.mjs) against the real services: a
 * scratch MySQL database and a Redis server of this file's own, the stack's Kafka, and a real payment
 * worker on the same backends. Each command's effect is read back from MySQL, Redis or Kafka.
 */

let scratch: ScratchDatabase
let redisServer: RedisServers
let db: DB
let redis: Redis
let producer: Producer
let worker: Proc
let env: Record<string, string>

beforeAll(async () => {
  ;[scratch, redisServer] = await Promise.all([createScratchDatabase(), startRedisServer()])
  env = { DATABASE_URL: scratch.url, REDIS_URL: redisServer.url }
  db = createDb(scratch.url, 2)
  redis = new Redis(redisServer.url)
  ensureScripts(redis)
  producer = new Kafka({ clientId: 'cli-test', brokers: process.env.KAFKA_BROKERS!.split(','), logLevel: logLevel.NOTHING }).producer()
  await producer.connect()
  worker = await startWorker(env)
})

afterAll(async () => {
  await worker?.stop()
  await producer?.disconnect()
  redis?.disconnect()
  await db?.destroy()
  await Promise.all([scratch?.drop(), redisServer?.stop()])
})

/** The result as parsed JSON: as loosely typed as JSON.parse, so a wrong path fails the assertion reading it. */
type Parsed = ReturnType<typeof JSON.parse>
interface Run { code: number | null, stdout: string, stderr: string, json: () => Parsed }

/** Runs the CLI as an operator would, with this file's MySQL and Redis. */
function cli(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['bin/flash-sale.mjs', ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => { stdout += d })
    child.stderr.on('data', (d) => { stderr += d })
    child.on('close', (code) => resolve({ code, stdout, stderr, json: () => JSON.parse(stdout) }))
  })
}

/**
 * A coupon in this file's MySQL. `later`: its sale opens in two hours, so the worker's reconciler
 * neither loads nor repairs it (it looks after coupons on sale or opening within 10 minutes) and what
 * the CLI does to it is the CLI's alone.
 */
async function insertCoupon(stock: number, { later = false } = {}): Promise<number> {
  const opens = Date.now() + (later ? 2 * 3_600_000 : -60_000)
  const r = await db
    .insertInto('coupons')
    .values({
      name: `CLI coupon ${randomUUID().slice(0, 6)}`,
      description: 'made by the CLI test',
      image_url: null,
      price: 100,
      total_stock: stock,
      stock,
      sale_starts_at: new Date(opens),
      sale_ends_at: new Date(opens + 3_600_000),
    })
    .executeTakeFirstOrThrow()
  return Number(r.insertId)
}

async function insertUser(credit = 10_000): Promise<{ id: number, email: string }> {
  const sub = `cli-${randomUUID()}`
  const email = `${sub}@example.test`
  const r = await db.insertInto('users').values({ sub, email, credit }).executeTakeFirstOrThrow()
  await db.insertInto('credit_ledger').values({ user_id: Number(r.insertId), amount: credit, kind: 'STARTING', order_id: null }).execute()
  return { id: Number(r.insertId), email }
}

const creditOf = async (userId: number) =>
  Number((await db.selectFrom('users').select('credit').where('id', '=', userId).executeTakeFirstOrThrow()).credit)
const orderRow = (orderId: string) => db.selectFrom('orders').select(['status', 'reason']).where('id', '=', orderId).executeTakeFirst()

/** A reservation made the way the web makes one, and the payment event it publishes. */
async function reservation(couponId: number, userId: number) {
  const orderId = newOrderId(couponId)
  const { status } = await reserveScript(redis, couponId, { userId, orderId, price: 100, serverId: 'cli-test', requestId: 'cli-test' })
  expect(status).toBe('OK')
  return paymentEvent({ orderId, userId, couponId, serverId: 'cli-test', requestId: 'cli-test' })
}

// Each command is a fresh Node process joining Kafka: allow for a busy machine.
const SLOW = { timeout: 180_000 }

describe('flash-sale coupon', SLOW, () => {
  it('load puts a coupon Redis does not hold into Redis behind the Kafka barrier, and leaves a loaded one alone', async () => {
    const couponId = await insertCoupon(5, { later: true })
    expect(await redis.get(keys.stock(couponId))).toBeNull()
    const first = await cli('coupon', 'load', String(couponId), '--json')
    expect(first.code, first.stderr).toBe(0)
    expect(first.json()).toEqual([{ couponId, status: 'loaded', stock: 5 }])
    expect(first.stderr).toContain('waiting until its payment events in flight are settled')
    expect(await redis.get(keys.stock(couponId))).toBe('5')
    expect(await redis.exists(keys.loaded(couponId))).toBe(1)

    await redis.decr(keys.stock(couponId)) // a live count the load must not overwrite
    const again = await cli('coupon', 'load', String(couponId), '--json')
    expect(again.json()).toEqual([{ couponId, status: 'already-loaded', stock: 4 }])
    await redis.incr(keys.stock(couponId))
  })

  it('stats shows a coupon\'s stock, pending and paid; unknown or malformed ids are usage errors', async () => {
    const couponId = await insertCoupon(3)
    const load = await cli('coupon', 'load', String(couponId))
    expect(load.code, load.stderr).toBe(0)
    const stats = await cli('coupon', 'stats', String(couponId), '--json')
    expect(stats.code, stats.stderr).toBe(0)
    expect(stats.json()).toMatchObject({ couponId, totalStock: 3, stockLeft: 3, pending: 0, paid: 0, failed: 0 })
    const table = await cli('coupon', 'stats', String(couponId))
    expect(table.stdout).toMatch(new RegExp(`^coupon\\s+total\\s+left.*\\n${couponId}\\s+3\\s+3`, 'm'))
    for (const bad of [['coupon', 'stats', '999999'], ['coupon', 'stats', 'abc'], ['coupon', 'load', '-1'], ['coupon', 'stats']]) {
      const r = await cli(...bad)
      expect(r.code, bad.join(' ')).toBe(2)
      expect(r.stderr).toMatch(/✗ (no coupon|usage)/)
      expect(r.stderr).not.toMatch(/\n\s+at /) // no stack trace
    }
  })
})

describe('flash-sale audit and repair', SLOW, () => {
  it('audit names a coupon whose Redis stock drifted, repair sets it from MySQL, audit --repair does it for every drifted coupon', async () => {
    const [a, b] = [await insertCoupon(5, { later: true }), await insertCoupon(7, { later: true })]
    for (const id of [a, b]) expect((await cli('coupon', 'load', String(id))).code).toBe(0)
    expect((await cli('audit')).code).toBe(0)

    await redis.set(keys.stock(a), 9) // Redis holding units MySQL does not have
    const drifted = await cli('audit', '--json')
    expect(drifted.code).toBe(1)
    expect(drifted.json().drift).toEqual([expect.objectContaining({ couponId: a, stockDrift: 4, buyersDrift: 0 })])

    const repaired = await cli('repair', String(a), '--json')
    expect(repaired.code, repaired.stderr).toBe(0)
    expect(repaired.json()).toMatchObject({
      couponId: a,
      result: { status: 'repaired', stock: 5 },
      before: { stockDrift: 4 },
      after: { stockDrift: 0 },
    })
    expect(await redis.get(keys.stock(a))).toBe('5')
    expect((await cli('audit')).code).toBe(0)

    await redis.set(keys.stock(a), 1)
    await redis.set(keys.stock(b), 0)
    const both = await cli('audit', '--repair', '--json')
    expect(both.code, both.stdout).toBe(0)
    expect(both.json().repairs).toEqual([{ couponId: a, status: 'repaired' }, { couponId: b, status: 'repaired' }])
    expect([await redis.get(keys.stock(a)), await redis.get(keys.stock(b))]).toEqual(['5', '7'])

    const unloaded = await insertCoupon(2, { later: true })
    const refused = await cli('repair', String(unloaded))
    expect(refused.code).toBe(2)
    expect(refused.stderr).toContain('coupon load')
    expect(await redis.get(keys.stock(unloaded))).toBeNull()
  })
})

describe('flash-sale credit grant', SLOW, () => {
  it('adds credit with its ledger row; a bad amount or an unknown email changes nothing', async () => {
    const user = await insertUser(10_000)
    const granted = await cli('credit', 'grant', user.email, '250', '--json')
    expect(granted.code, granted.stderr).toBe(0)
    expect(granted.json()).toEqual({ userId: user.id, email: user.email, granted: 250, credit: 10_250 })
    expect(await creditOf(user.id)).toBe(10_250)
    const ledger = await db.selectFrom('credit_ledger').select(['amount', 'kind']).where('user_id', '=', user.id).orderBy('id').execute()
    expect(ledger.map((l) => [l.kind, Number(l.amount)])).toEqual([['STARTING', 10_000], ['GRANT', 250]])

    for (const bad of [
      [user.email, '-5'],
      [user.email, '1.5'],
      [user.email, 'lots'],
      [user.email, '100000001'],
      ['nobody@example.test', '10'],
      [user.email],
    ]) {
      const r = await cli('credit', 'grant', ...bad)
      expect(r.code, bad.join(' ')).toBe(2)
      expect(r.stderr).toMatch(/✗ (usage|no account)/)
    }
    expect(await creditOf(user.id)).toBe(10_250)
    expect((await cli('audit')).code).toBe(0)
  })
})

describe('flash-sale dlq', SLOW, () => {
  it('lists and shows dead letters, replays only those whose order has no MySQL row, and a replayed order settles once', async () => {
    const couponId = await insertCoupon(2)
    expect((await cli('coupon', 'load', String(couponId))).code).toBe(0)
    const [buyer, other] = [await insertUser(), await insertUser()]
    // An event whose reservation is gone from Redis (had it one, the reconciler would re-publish it by itself).
    const unsettled = paymentEvent({
      orderId: newOrderId(couponId), userId: buyer.id, couponId, serverId: 'cli-test', requestId: 'cli-test',
    })
    const settledId = newOrderId(couponId)
    await db
      .insertInto('orders')
      .values({
        id: settledId,
        user_id: other.id,
        coupon_id: couponId,
        price: 100,
        status: 'FAILED',
        reason: 'PAYMENT_ERROR',
        server_id: 'cli-test',
        created_at: new Date(),
        updated_at: new Date(),
      })
      .execute()
    const settled = { ...unsettled, orderId: settledId, userId: other.id }
    const junkKey = `junk-${randomUUID()}`
    await producer.send({ topic: topics.deadLetters, messages: [
      { key: unsettled.orderId, value: JSON.stringify(unsettled), headers: { error: 'test: settlement kept failing' } },
      { key: settledId, value: JSON.stringify(settled), headers: { error: 'test: already failed' } },
      { key: junkKey, value: 'not json', headers: { error: 'malformed payment request' } },
    ] })

    const list = await cli('dlq', 'list', '--json')
    expect(list.code, list.stderr).toBe(0)
    const letters = list.json() as { id: string, orderId: string, settled: string | null, valid: boolean, error: string }[]
    const mine = (key: string) => letters.find((l) => l.orderId === key)!
    expect(mine(unsettled.orderId)).toMatchObject({ settled: null, valid: true, error: 'test: settlement kept failing' })
    expect(mine(settledId)).toMatchObject({ settled: 'FAILED/PAYMENT_ERROR', valid: true })
    expect(mine(junkKey)).toMatchObject({ settled: null, valid: false })
    expect(list.stderr).toContain('reading payment-requests.dlq')

    const shown = await cli('dlq', 'show', mine(unsettled.orderId).id, '--json')
    expect(shown.code, shown.stderr).toBe(0)
    expect(shown.json()).toMatchObject({
      key: unsettled.orderId,
      headers: { error: 'test: settlement kept failing' },
      value: { orderId: unsettled.orderId, userId: buyer.id },
    })
    expect((await cli('dlq', 'show', '99:99999999')).code).toBe(2)

    const dry = await cli('dlq', 'replay', '--dry-run', '--json')
    expect(dry.json().replayed.map((r: { orderId: string }) => r.orderId)).toContain(unsettled.orderId)
    expect(await orderRow(unsettled.orderId)).toBeUndefined()

    const replay = await cli('dlq', 'replay', '--json')
    expect(replay.code, replay.stderr).toBe(0)
    const result = replay.json() as { replayed: { orderId: string }[], skipped: { orderId: string, why: string }[] }
    expect(result.replayed.map((r) => r.orderId)).toContain(unsettled.orderId)
    expect(result.replayed.map((r) => r.orderId)).not.toContain(settledId)
    expect(result.skipped).toEqual(expect.arrayContaining([
      expect.objectContaining({ orderId: settledId, why: 'order already FAILED/PAYMENT_ERROR' }),
      expect.objectContaining({ orderId: junkKey, why: 'malformed event' }),
    ]))

    // The worker settles the replayed event (no reservation: failed as cancelled, no charge), and a second replay skips it.
    const settledNow = await eventually(async () => orderRow(unsettled.orderId), 30_000)
    expect(settledNow).toEqual({ status: 'FAILED', reason: 'CANCELLED' })
    expect(await creditOf(buyer.id)).toBe(10_000)
    const again = (await cli('dlq', 'replay', '--json')).json() as typeof result
    expect(again.replayed.map((r) => r.orderId)).not.toContain(unsettled.orderId)
    expect(again.skipped).toEqual(
      expect.arrayContaining([expect.objectContaining({ orderId: unsettled.orderId, why: 'order already FAILED/CANCELLED' })]),
    )
    const audit = await cli('audit')
    expect(audit.code, audit.stdout).toBe(0)
  })
})

describe('flash-sale worker', SLOW, () => {
  it('drain pauses every worker after its batch in hand (events wait in Kafka), resume lets them settle', async () => {
    const drained = await cli('worker', 'drain', '--timeout', '30', '--json')
    expect(drained.code, drained.stderr).toBe(0)
    expect(drained.json()).toMatchObject({ drained: true, members: 1 })
    expect(drained.json().workers).toHaveLength(1)
    expect(drained.stderr).toMatch(/1\/1 worker\(s\) drained/)
    expect(sample(await (await fetch(`${worker.url}/metrics`)).text(), 'flash_draining')).toBe(1)

    const couponId = await insertCoupon(1)
    expect((await cli('coupon', 'load', String(couponId))).code).toBe(0)
    const buyer = await insertUser()
    const event = await reservation(couponId, buyer.id)
    await producer.send({ topic: topics.paymentRequests, messages: [{ key: event.orderId, value: JSON.stringify(event) }] })
    await new Promise((r) => setTimeout(r, 4_000))
    expect(await orderRow(event.orderId)).toBeUndefined() // waiting in Kafka, not settled

    const resumed = await cli('worker', 'resume', '--json')
    expect(resumed.json()).toEqual({ resumed: true })
    expect(await eventually(async () => (await orderRow(event.orderId))?.status === 'PAID', 30_000)).toBe(true)
    expect(sample(await (await fetch(`${worker.url}/metrics`)).text(), 'flash_draining')).toBe(0)
    expect((await cli('worker', 'resume', '--json')).json()).toEqual({ resumed: false })
  })
})
