import { Kysely, MysqlDialect, sql } from 'kysely'
import { createPool } from 'mysql2'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { closeDb, db, type DB } from '../../server/db'
import type { Database } from '../../server/db/types'
import { closeRedis, redis } from '../../server/redis/client'
import { keys } from '../../server/redis/keys'
import { recordFailure, settleBatch } from '../../server/domain/payments/settle'
import { finishInRedis } from '../../server/domain/payments/followup'
import { closePaymentPublisher, purchaseCoupon } from '../../server/domain/orders/purchase'
import { getOrder } from '../../server/domain/orders/service'
import { grantCredit } from '../../server/domain/users/service'
import { kafka, topics, type PaymentRequest } from '../../server/kafka/client'
import { couponState, createCouponOnSale, createUsers, creditOf, ensureStockLoaded, eventually } from '../support/data'
import { startWorker, type Proc } from '../support/processes'
import { onDeadLetters } from '../support/dead-letters'
import { reserve as reserveInRedis, paymentEvent } from '../support/reservations'

async function reserve(couponId: number, userId: number, price: number): Promise<PaymentRequest> {
  const { orderId, status } = await reserveInRedis(couponId, userId, undefined, price)
  expect(status).toBe('OK')
  return paymentEvent({ orderId, userId, couponId, price })
}

async function settle(events: PaymentRequest[]) {
  const outcomes = await settleBatch(db(), redis(), events)
  await finishInRedis(redis(), outcomes)
  return outcomes
}

/** The app's database, with every connection under snapshot isolation (as on MariaDB 11.6.2 and later). */
function createSnapshotIsolationDb(): DB {
  const pool = createPool({
    uri: process.env.DATABASE_URL!,
    connectionLimit: 8,
    timezone: 'Z',
    supportBigNumbers: true,
    bigNumberStrings: false,
    decimalNumbers: true,
  })
  pool.on('connection', (connection) => connection.query('SET SESSION innodb_snapshot_isolation = ON'))
  return new Kysely<Database>({ dialect: new MysqlDialect({ pool }) })
}

beforeAll(ensureStockLoaded)

afterAll(async () => {
  await closePaymentPublisher()
  await closeRedis()
  await closeDb()
})

describe('settling a batch', () => {
  it('charges, records the coupon and decrements MySQL stock for paid orders', async () => {
    const couponId = await createCouponOnSale({ stock: 5, price: 300 })
    const users = await createUsers(3, 1_000)
    const events = await Promise.all(users.map((u) => reserve(couponId, u, 300)))
    const outcomes = await settle(events)
    expect(outcomes.map((o) => o.status)).toEqual(['PAID', 'PAID', 'PAID'])
    for (const u of users) expect(await creditOf(u)).toBe(700)
    expect(await couponState(couponId)).toMatchObject({ mysqlStock: 2, redisStock: 2, pending: 0, buyers: 3, paid: 3 })
  })

  it('fails an order for insufficient credit, gives the unit back, and lets the user buy after a top-up', async () => {
    const couponId = await createCouponOnSale({ stock: 1, price: 5_000 })
    const [poor] = await createUsers(1, 1_000)
    const first = await reserve(couponId, poor!, 5_000)
    expect(await settle([first])).toEqual([expect.objectContaining({ status: 'FAILED', reason: 'INSUFFICIENT_CREDIT' })])
    expect(await creditOf(poor!)).toBe(1_000)
    expect(await couponState(couponId)).toMatchObject({ mysqlStock: 1, redisStock: 1, pending: 0, buyers: 0, paid: 0 })

    await grantCredit(poor!, 4_000)
    const second = await reserve(couponId, poor!, 5_000)
    expect(await settle([second])).toEqual([expect.objectContaining({ status: 'PAID' })])
    expect(await creditOf(poor!)).toBe(0)
    expect(await couponState(couponId)).toMatchObject({ mysqlStock: 0, redisStock: 0, pending: 0, buyers: 1, paid: 1 })
  })

  it('changes nothing when the same event arrives again, in the same batch or later', async () => {
    const couponId = await createCouponOnSale({ stock: 3, price: 100 })
    const [user] = await createUsers(1, 1_000)
    const event = await reserve(couponId, user!, 100)
    await settle([event, event])
    const after = { credit: await creditOf(user!), state: await couponState(couponId) }
    const again = await settle([event])
    expect(again).toEqual([expect.objectContaining({ orderId: event.orderId, status: 'PAID' })])
    expect({ credit: await creditOf(user!), state: await couponState(couponId) }).toEqual(after)
    expect(after).toEqual({ credit: 900, state: expect.objectContaining({ mysqlStock: 2, redisStock: 2, paid: 1, pending: 0 }) })
    const ledger = await db().selectFrom('credit_ledger').selectAll().where('order_id', '=', event.orderId).execute()
    expect(ledger).toHaveLength(1)

    // Again beside a new order in one batch: the settled one keeps its outcome, the new one is settled.
    const [other] = await createUsers(1, 1_000)
    const fresh = await reserve(couponId, other!, 100)
    const mixed = await settle([event, fresh])
    expect(mixed).toEqual(expect.arrayContaining([
      expect.objectContaining({ orderId: event.orderId, status: 'PAID' }),
      expect.objectContaining({ orderId: fresh.orderId, status: 'PAID' }),
    ]))
    expect(mixed).toHaveLength(2)
    expect([await creditOf(user!), await creditOf(other!)]).toEqual([900, 900])
    expect(await couponState(couponId)).toMatchObject({ mysqlStock: 1, redisStock: 1, paid: 2, pending: 0 })
  })

  it('lets MySQL refuse an order Redis let through by mistake (SOLD_OUT), with no charge, and heals Redis itself', async () => {
    const couponId = await createCouponOnSale({ stock: 1, price: 100 })
    await redis().set(keys.stock(couponId), 2) // Redis wrongly believes there are two (it forgot a write)
    const [a, b] = await createUsers(2, 1_000)
    const outcomes = await settle([await reserve(couponId, a!, 100), await reserve(couponId, b!, 100)])
    expect(outcomes.map((o) => o.status).sort()).toEqual(['FAILED', 'PAID'])
    const refused = outcomes.find((o) => o.status === 'FAILED')!
    expect(refused.reason).toBe('SOLD_OUT')
    expect((await creditOf(a!)) + (await creditOf(b!))).toBe(1_900)
    // The SOLD_OUT follow-up keeps the phantom unit taken and removes the refused buyer: in balance.
    expect(await couponState(couponId)).toMatchObject({ mysqlStock: 0, redisStock: 0, paid: 1, pending: 0, buyers: 1 })
    expect(await redis().sismember(keys.buyers(couponId), String(refused.userId))).toBe(0)
  })

  it('sells exactly the MySQL stock when concurrent batches of one coupon race for its last units (each decides again on fresh stock)', async () => {
    const couponId = await createCouponOnSale({ stock: 3, price: 100 })
    await redis().set(keys.stock(couponId), 12) // Redis let four times too many through
    const buyers = await createUsers(12, 1_000)
    const events = await Promise.all(buyers.map((u) => reserve(couponId, u, 100)))
    // six batches of two settle at once: they all read stock 3, and only the first commits see it
    const outcomes = (await Promise.all([0, 2, 4, 6, 8, 10].map((i) => settle(events.slice(i, i + 2))))).flat()
    expect(outcomes).toHaveLength(12)
    expect(outcomes.filter((o) => o.status === 'PAID')).toHaveLength(3)
    expect(outcomes.filter((o) => o.status === 'FAILED').every((o) => o.reason === 'SOLD_OUT')).toBe(true)
    const credits = await Promise.all(buyers.map((u) => creditOf(u)))
    expect(credits.reduce((a, b) => a + b, 0)).toBe(12 * 1_000 - 3 * 100)
    expect(await couponState(couponId)).toMatchObject({ mysqlStock: 0, paid: 3, pending: 0, buyers: 3 })
  })

  it('takes every coupon of a batch in one guarded statement: a batch short of one coupon\'s stock decides again, and the others still sell', async () => {
    const [plenty, scarce] = [await createCouponOnSale({ stock: 20, price: 100 }), await createCouponOnSale({ stock: 2, price: 100 })]
    await redis().set(keys.stock(scarce), 8) // Redis let four times too many through
    const buyers = await createUsers(8, 1_000)
    const events = await Promise.all(buyers.flatMap((u) => [reserve(plenty, u, 100), reserve(scarce, u, 100)]))
    // four batches of both coupons at once: each reads the scarce stock 2, and only the first commits find it
    const outcomes = (await Promise.all([0, 4, 8, 12].map((i) => settle(events.slice(i, i + 4))))).flat()
    expect(outcomes).toHaveLength(16)
    const of = (couponId: number, status: string) => outcomes.filter((o) => o.couponId === couponId && o.status === status)
    expect([of(plenty, 'PAID').length, of(scarce, 'PAID').length, of(scarce, 'FAILED').length]).toEqual([8, 2, 6])
    const credits = await Promise.all(buyers.map((u) => creditOf(u)))
    expect(credits.reduce((a, b) => a + b, 0)).toBe(8 * 1_000 - 10 * 100)
    expect(await couponState(plenty)).toMatchObject({ mysqlStock: 12, paid: 8, pending: 0 })
    expect(await couponState(scarce)).toMatchObject({ mysqlStock: 0, paid: 2, pending: 0, buyers: 2 })
  })

  it('sells exactly the MySQL stock in that race under snapshot isolation (innodb_snapshot_isolation=ON, MariaDB\'s default from 11.6.2), parking nothing', async () => {
    const couponId = await createCouponOnSale({ stock: 3, price: 100 })
    await redis().set(keys.stock(couponId), 12)
    const buyers = await createUsers(12, 1_000)
    const events = await Promise.all(buyers.map((u) => reserve(couponId, u, 100)))
    const snapshotDb = createSnapshotIsolationDb()
    try {
      const { rows } = await sql<{ on: number }>`SELECT @@SESSION.innodb_snapshot_isolation AS \`on\``.execute(snapshotDb)
      expect(rows).toEqual([{ on: 1 }])
      const outcomes = (await Promise.all([0, 2, 4, 6, 8, 10].map(async (i) => {
        const settled = await settleBatch(snapshotDb, redis(), events.slice(i, i + 2))
        await finishInRedis(redis(), settled)
        return settled
      }))).flat()
      expect(outcomes.map((o) => o.status).sort()).toEqual([...Array(9).fill('FAILED'), ...Array(3).fill('PAID')])
      expect(outcomes.filter((o) => o.status === 'FAILED').every((o) => o.reason === 'SOLD_OUT')).toBe(true)
    } finally {
      await snapshotDb.destroy()
    }
    expect(await couponState(couponId)).toMatchObject({ mysqlStock: 0, paid: 3, pending: 0, buyers: 3 })
  })

  it('decides ALREADY_PURCHASED before credit: an owner Redis forgot, re-buying without the money, keeps the coupon and the unit stays taken', async () => {
    const couponId = await createCouponOnSale({ stock: 3, price: 600 })
    const [owner] = await createUsers(1, 1_000)
    expect((await settle([await reserve(couponId, owner!, 600)]))[0]).toMatchObject({ status: 'PAID' })
    // Redis loses the tail of its history: the owner's reservation, and the unit it took.
    await redis().srem(keys.buyers(couponId), String(owner))
    await redis().incr(keys.stock(couponId))
    const again = await settle([await reserve(couponId, owner!, 600)]) // 400 left: not enough credit either
    expect(again[0]).toMatchObject({ status: 'FAILED', reason: 'ALREADY_PURCHASED' })
    expect(await creditOf(owner!)).toBe(400)
    expect(await couponState(couponId)).toMatchObject({ mysqlStock: 2, redisStock: 2, paid: 1, pending: 0, buyers: 1 })
    expect(await redis().sismember(keys.buyers(couponId), String(owner))).toBe(1)
  })

  it('settles at the reservation\'s price when the event names another one', async () => {
    const couponId = await createCouponOnSale({ stock: 2, price: 300 })
    const [user] = await createUsers(1, 1_000)
    const event = await reserve(couponId, user!, 300)
    const [outcome] = await settle([{ ...event, price: 1 }])
    expect(outcome).toMatchObject({ status: 'PAID' })
    expect(await creditOf(user!)).toBe(700)
    expect(await getOrder(user!, event.orderId)).toMatchObject({ price: 300 })
  })

  it('releases a CANCELLED order whose entry a lost cancel brought back', async () => {
    const couponId = await createCouponOnSale({ stock: 2, price: 100 })
    const [user] = await createUsers(1, 1_000)
    const event = await reserve(couponId, user!, 100)
    // The web's tombstone: the order is FAILED/CANCELLED in MySQL while Redis still holds the entry.
    await recordFailure(db(), event, 'CANCELLED')
    expect(await settle([event])).toEqual([expect.objectContaining({ status: 'FAILED', reason: 'CANCELLED' })])
    expect(await creditOf(user!)).toBe(1_000)
    expect(await couponState(couponId)).toMatchObject({ mysqlStock: 2, redisStock: 2, pending: 0, buyers: 0, paid: 0 })
  })
})

describe('purchase → Kafka → worker', () => {
  let worker: Proc
  beforeAll(async () => {
    worker = await startWorker()
  })
  afterAll(async () => {
    await worker?.stop()
  })

  it('settles a purchase through the payment worker and order.get tells the truth at each step', async () => {
    const couponId = await createCouponOnSale({ stock: 2, price: 250 })
    const [user] = await createUsers(1, 1_000)
    const { orderId, status } = await purchaseCoupon(user!, couponId, 'req-1')
    expect(status).toBe('PENDING')
    expect(orderId).toMatch(new RegExp(`^${couponId}-[0-9A-Z]{26}$`))
    const settled = await eventually(async () => (await getOrder(user!, orderId)).status !== 'PENDING' && getOrder(user!, orderId))
    expect(settled).toMatchObject({ orderId, couponId, status: 'PAID', price: 250 })
    expect(await creditOf(user!)).toBe(750)
    await expect(getOrder(user! + 1, orderId)).rejects.toMatchObject({ reason: 'NOT_FOUND' })
    await expect(purchaseCoupon(user!, couponId, 'req-2')).rejects.toMatchObject({ reason: 'ALREADY_PURCHASED' })
  })

  it('parks a malformed event on the dead-letter topic and keeps settling the others', async () => {
    const poisonKey = `poison-${Date.now()}`
    const producer = kafka().producer()
    await producer.connect()
    await producer.send({ topic: topics.paymentRequests, messages: [{ key: poisonKey, value: '{"v":1,"orderId":"not json' }] })
    await producer.disconnect()
    const couponId = await createCouponOnSale({ stock: 1, price: 100 })
    const [user] = await createUsers(1, 1_000)
    const { orderId } = await purchaseCoupon(user!, couponId, 'after-poison')
    expect(await eventually(async () => (await getOrder(user!, orderId)).status === 'PAID')).toBe(true)

    expect(await onDeadLetters(poisonKey)).toBe(true)
  })
})
