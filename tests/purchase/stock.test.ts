import { afterAll, describe, expect, it } from 'vitest'
import { closeDb, db } from '../../server/db'
import { updateCoupon } from '../../server/domain/coupons/admin'
import { closePaymentPublisher, purchaseCoupon } from '../../server/domain/orders/purchase'
import { Reconciler } from '../../server/domain/payments/reconciler'
import { LoadBarrier } from '../../server/domain/stock/barrier'
import { RepublishGate } from '../../server/domain/payments/republish-gate'
import { kafka, PAYMENT_GROUP, topics } from '../../server/kafka/client'
import { groupPositions } from '../../server/observability/kafka-lag'
import { closeRedis, redis } from '../../server/redis/client'
import { keys } from '../../server/redis/keys'
import { couponState, createCouponOnSale, createUsers, eventually } from '../support/data'
import { startWeb, startWorker, type Proc } from '../support/processes'
import { createShoppers } from '../support/shoppers'
import { createUser, accessToken } from '../support/keycloak'
import { reserve } from '../support/reservations'
import { call } from '../support/api'

const procs: Proc[] = []
const admin = kafka().admin()
let connected = false
afterAll(async () => {
  await Promise.all(procs.map((p) => p.stop()))
  if (connected) await admin.disconnect()
  await closePaymentPublisher()
  await closeRedis()
  await closeDb()
})

/** A reconciler as the worker runs it, with a short settle wait so the test does not sit idle. */
async function reconciler() {
  if (!connected) await admin.connect()
  connected = true
  return new Reconciler({
    db: db(), redis: redis(), consuming: () => true, republish: async () => {},
    barrier: new LoadBarrier(() => groupPositions(admin, topics.paymentRequests, PAYMENT_GROUP), 500),
    gate: new RepublishGate(() => groupPositions(admin, topics.paymentRequests, PAYMENT_GROUP)),
  })
}

/** Events other files left in Kafka are settled first: the barrier waits for them, rightly, and no worker runs here. */
async function settleLeftoverEvents() {
  if (!connected) await admin.connect()
  connected = true
  const drain = await startWorker()
  try {
    expect(
      await eventually(
        async () => (await groupPositions(admin, topics.paymentRequests, PAYMENT_GROUP)).every((p) => p.position >= p.end),
        60_000,
        500,
      ),
    ).toBe(true)
  } finally {
    await drain.stop()
  }
}

describe('stock in Redis', () => {
  it('loads a coupon Redis does not hold behind the Kafka barrier, answering TRY_AGAIN_LATER meanwhile, and never touches a live count', async () => {
    await settleLeftoverEvents()
    const live = await createCouponOnSale({ stock: 10 })
    const [buyer, shopper] = await createUsers(2)
    await reserve(live, buyer!)
    const cold = await createCouponOnSale({ stock: 7, loadStock: false })
    await expect(purchaseCoupon(shopper!, cold, 'cold')).rejects.toMatchObject({ reason: 'TRY_AGAIN_LATER' })

    const pass = await reconciler()
    expect(await pass.pass()).toMatchObject({ loaded: 0 }) // loss seen: end offsets recorded
    await new Promise((r) => setTimeout(r, 600))
    expect((await pass.pass()).loaded).toBeGreaterThanOrEqual(1)
    expect(await couponState(cold)).toMatchObject({ redisStock: 7, buyers: 0 })
    expect(await couponState(live)).toMatchObject({ redisStock: 9, pending: 1, buyers: 1 })
    await expect(purchaseCoupon(shopper!, cold, 'loaded')).resolves.toMatchObject({ status: 'PENDING' })
  })

  it('after a coupon\'s data is lost, waits until its events in flight are settled, then rebuilds stock and buyers from MySQL', async () => {
    const worker = await startWorker()
    const couponId = await createCouponOnSale({ stock: 5, price: 100 })
    const [owner, other] = await createUsers(2)
    await purchaseCoupon(owner!, couponId, 'before-loss')
    await eventually(async () => (await couponState(couponId)).paid === 1)
    await worker.stop()

    const inFlight = await purchaseCoupon(other!, couponId, 'in-flight') // published; nobody consumes it
    await redis().del(...keys.couponKeys(couponId)) // the shard holding this coupon lost its data
    await expect(purchaseCoupon(other!, couponId, 'during-loss')).rejects.toMatchObject({ reason: 'TRY_AGAIN_LATER' })

    const pass = await reconciler()
    await pass.pass()
    await new Promise((r) => setTimeout(r, 600))
    expect(await pass.pass()).toMatchObject({ loaded: 0 }) // the in-flight event is not settled yet
    expect(await redis().exists(keys.loaded(couponId))).toBe(0)

    procs.push(await startWorker()) // settles it: its reservation was lost, so FAILED/CANCELLED, no charge
    await eventually(async () => {
      await pass.pass()
      return (await redis().exists(keys.loaded(couponId))) === 1
    }, 30_000, 500)
    const order = await db().selectFrom('orders').select(['status', 'reason']).where('id', '=', inFlight.orderId).executeTakeFirst()
    expect(order).toMatchObject({ status: 'FAILED', reason: 'CANCELLED' })
    expect(await couponState(couponId)).toMatchObject({ redisStock: 4, mysqlStock: 4, buyers: 1, paid: 1 })
    await expect(purchaseCoupon(owner!, couponId, 'after-rebuild')).rejects.toMatchObject({ reason: 'ALREADY_PURCHASED' })
    await expect(purchaseCoupon(other!, couponId, 'after-rebuild')).resolves.toMatchObject({ status: 'PENDING' })
  }, 90_000)

  it('commits an admin\'s stock change in MySQL first, caps a removal at the units no reservation holds, and brings Redis along', async () => {
    const couponId = await createCouponOnSale({ stock: 5 })
    const [a, b] = await createUsers(2)
    await reserve(couponId, a!)
    await reserve(couponId, b!)
    await expect(updateCoupon({ id: couponId, stockDelta: -4 })).rejects.toMatchObject({ reason: 'INVALID_INPUT', message: expect.stringMatching(/only 3/) })
    expect(await couponState(couponId)).toMatchObject({ mysqlStock: 5, totalStock: 5, redisStock: 3 })
    await updateCoupon({ id: couponId, stockDelta: -3 })
    expect(await couponState(couponId)).toMatchObject({ mysqlStock: 2, totalStock: 2, redisStock: 0, pending: 2 })
    await updateCoupon({ id: couponId, stockDelta: 10 })
    expect(await couponState(couponId)).toMatchObject({ mysqlStock: 12, totalStock: 12, redisStock: 10, pending: 2 })
  })

  it('clears every instance\'s sold-out flag as soon as an admin adds stock', async () => {
    const [web, worker] = await Promise.all([startWeb({ PURCHASE_RATE_LIMIT: '100' }), startWorker()])
    procs.push(web, worker)
    const couponId = await createCouponOnSale({ stock: 1, price: 100 })
    const [first, second] = await createShoppers(2)
    const adminToken = await accessToken(await createUser({ roles: ['admin'] }))
    const buy = (token: string) => call(web.url, 'order.purchase', { input: { couponId }, token, mutation: true })

    expect((await buy(first!.token)).status).toBe(200)
    await eventually(async () => (await couponState(couponId)).pending === 0)
    expect(await buy(second!.token)).toMatchObject({ status: 409, error: { data: { reason: 'SOLD_OUT' } } }) // sets the flag
    const added = await call(web.url, 'admin.updateCoupon', { input: { id: couponId, stockDelta: 1 }, token: adminToken, mutation: true })
    expect(added).toMatchObject({ status: 200, data: { id: couponId } })
    // Well inside the flag's one-second life: only the invalidation lets this through.
    expect(await buy(second!.token)).toMatchObject({ status: 200, data: { status: 'PENDING' } })
    expect(await couponState(couponId)).toMatchObject({ redisStock: 0, totalStock: 2 })
  }, 120_000)
})
