import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { closeDb, db } from '../../server/db'
import { auditInvariants } from '../../server/domain/audit/service'
import { closePaymentPublisher, purchaseCoupon } from '../../server/domain/orders/purchase'
import { closeRedis, redis } from '../../server/redis/client'
import { keys } from '../../server/redis/keys'
import { couponState, createCouponOnSale, createUsers, creditOf, ensureStockLoaded, eventually } from '../support/data'
import { startWeb, startWorker, type Proc } from '../support/processes'
import { createShoppers } from '../support/shoppers'
import { reserve } from '../support/reservations'
import { call } from '../support/api'

const started: Proc[] = []
async function track<T extends Proc>(p: Promise<T>): Promise<T> {
  const proc = await p
  started.push(proc)
  return proc
}

beforeAll(ensureStockLoaded)

afterAll(async () => {
  await Promise.all(started.map((p) => p.stop('SIGKILL')))
  await closePaymentPublisher()
  await closeRedis()
  await closeDb()
})

const settledState = async (couponId: number) => {
  const state = await couponState(couponId)
  const pendingOrders = await db()
    .selectFrom('orders')
    .select('id')
    .where('coupon_id', '=', couponId)
    .where('status', '=', 'PENDING')
    .execute()
  return state.pending === 0 && pendingOrders.length === 0 ? state : null
}

describe('failures on the purchase path', () => {
  it('settles every order exactly once when a worker is SIGKILLed mid-burst and another takes over', async () => {
    const [first, second] = await Promise.all([track(startWorker()), track(startWorker())])
    const couponId = await createCouponOnSale({ stock: 300, price: 10 })
    const users = await createUsers(400, 1_000)
    const burst = Promise.allSettled(
      users.map((u, i) => new Promise((r) => setTimeout(r, i)).then(() => purchaseCoupon(u, couponId, `fault-${i}`))),
    )
    await new Promise((r) => setTimeout(r, 150))
    await first.stop('SIGKILL')
    expect(first.proc.signalCode).toBe('SIGKILL')
    const results = await burst
    const accepted = results.filter((r) => r.status === 'fulfilled').length
    expect(accepted).toBe(300)
    await track(startWorker()) // the killed worker's replacement
    const state = await eventually(() => settledState(couponId), 90_000, 500)
    expect(state).toMatchObject({ paid: 300, mysqlStock: 0, redisStock: 0 })
    // The whole audit (every coupon): the reconciler heals any drift within a few passes, so it is
    // given a moment, as after any fault.
    const failing = async () => (await auditInvariants(db(), redis())).filter((c) => !c.ok)
    await eventually(async () => (await failing()).length === 0, 20_000, 500)
    expect(await failing()).toEqual([])
    await second.stop()
  }, 150_000)

  it('settles a reservation whose web process died before publishing (the reconciler re-publishes it)', async () => {
    await track(startWorker())
    const couponId = await createCouponOnSale({ stock: 2, price: 100 })
    const [user] = await createUsers(1, 1_000)
    // The reservation a web instance made just before it was killed: no Kafka event exists.
    const { orderId, status } = await reserve(couponId, user!)
    expect(status).toBe('OK')
    const order = await eventually(async () => {
      const row = await db().selectFrom('orders').select(['status', 'reason']).where('id', '=', orderId).executeTakeFirst()
      return row?.status === 'PAID' ? row : null
    }, 40_000, 500)
    expect(order).toMatchObject({ status: 'PAID' })
    expect(await creditOf(user!)).toBe(900)
    expect(await eventually(() => settledState(couponId), 10_000)).toMatchObject({ redisStock: 1, mysqlStock: 1, paid: 1 })
  }, 60_000)

  it('undoes the reservation and answers TRY_AGAIN_LATER when the payment event cannot be published', async () => {
    const web = await track(startWeb({ KAFKA_BROKERS: '127.0.0.1:9' })) // nothing listens there
    const couponId = await createCouponOnSale({ stock: 4, price: 100 })
    const [shopper] = await createShoppers(1)
    const answer = await call(web.url, 'order.purchase', { input: { couponId }, token: shopper!.token, mutation: true })
    expect(answer).toMatchObject({ status: 503, error: { data: { reason: 'TRY_AGAIN_LATER' } } })
    expect(await couponState(couponId)).toMatchObject({ redisStock: 4, pending: 0, buyers: 0 })
    expect(await redis().hlen(keys.pending(couponId))).toBe(0)
  }, 60_000)
})
