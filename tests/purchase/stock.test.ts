import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { closeDb, db } from '../../server/db'
import { closePaymentPublisher, purchaseCoupon } from '../../server/domain/orders/purchase'
import { kafkaDrained, reconcileOnce } from '../../server/domain/payments/reconciler'
import { preloadStock } from '../../server/domain/stock/loader'
import { kafka, PAYMENT_GROUP, topics } from '../../server/kafka/client'
import { closeRedis, redis } from '../../server/redis/client'
import { keys } from '../../server/redis/keys'
import { couponState, createCouponOnSale, createUsers, ensureStockLoaded, eventually } from '../support/data'
import { startWeb, startWorker, type Proc } from '../support/processes'
import { createShoppers, trpc } from '../support/shoppers'
import { createUser, accessToken } from '../support/keycloak'

const procs: Proc[] = []
beforeAll(ensureStockLoaded)
afterAll(async () => {
  await Promise.all(procs.map((p) => p.stop()))
  await closePaymentPublisher()
  await closeRedis()
  await closeDb()
})

describe('stock in Redis', () => {
  it('loads stock for sales opening soon without ever overwriting a live count', async () => {
    const live = await createCouponOnSale({ stock: 10 })
    await redis().set(keys.stock(live), 4) // six units reserved since it was loaded
    const cold = await createCouponOnSale({ stock: 7, loadStock: false })
    expect(await redis().get(keys.stock(cold))).toBeNull()
    await preloadStock(redis(), db())
    expect(await redis().get(keys.stock(live))).toBe('4')
    expect(await redis().get(keys.stock(cold))).toBe('7')
  })

  it('loads a coupon that was never loaded on its first purchase', async () => {
    const couponId = await createCouponOnSale({ stock: 3, loadStock: false })
    const [user] = await createUsers(1)
    await expect(purchaseCoupon(user!, couponId, 'first')).resolves.toMatchObject({ status: 'PENDING' })
    expect(await redis().get(keys.stock(couponId))).toBe('2')
  })

  it('holds sales while Redis has lost its data, then rebuilds stock and buyers from MySQL once Kafka is drained', async () => {
    const worker = await startWorker()
    procs.push(worker)
    const couponId = await createCouponOnSale({ stock: 5, price: 100 })
    const [owner, other] = await createUsers(2)
    await purchaseCoupon(owner!, couponId, 'before-loss')
    await eventually(async () => (await couponState(couponId)).paid === 1)
    await worker.stop()

    await redis().flushall() // Redis lost everything (no AOF, a new node…)
    await expect(purchaseCoupon(other!, couponId, 'during-loss')).rejects.toMatchObject({ reason: 'TRY_AGAIN_LATER' })

    const admin = kafka().admin()
    await admin.connect()
    try {
      expect(await kafkaDrained(admin, topics.paymentRequests, PAYMENT_GROUP)).toBe(true)
      const done = await reconcileOnce({ db: db(), redis: redis(), admin, topic: topics.paymentRequests, groupId: PAYMENT_GROUP, consuming: () => true, republish: async () => {} })
      expect(done.rebuilt).toBe(true)
    } finally {
      await admin.disconnect()
    }
    expect(await couponState(couponId)).toMatchObject({ redisStock: 4, mysqlStock: 4, buyers: 1, paid: 1 })
    await expect(purchaseCoupon(owner!, couponId, 'after-rebuild')).rejects.toMatchObject({ reason: 'ALREADY_PURCHASED' })
    await expect(purchaseCoupon(other!, couponId, 'after-rebuild')).resolves.toMatchObject({ status: 'PENDING' })
  })

  it('clears every instance\'s sold-out flag as soon as an admin adds stock', async () => {
    const web = await startWeb({ PURCHASE_RATE_LIMIT: '100' })
    procs.push(web)
    const couponId = await createCouponOnSale({ stock: 1, price: 100 })
    const [first, second] = await createShoppers(2)
    const adminToken = await accessToken(await createUser({ roles: ['admin'] }))
    const buy = (token: string) => trpc(web.url, 'order.purchase', { input: { couponId }, token, mutation: true })

    expect((await buy(first!.token)).status).toBe(200)
    expect(await buy(second!.token)).toMatchObject({ status: 409, error: { data: { reason: 'SOLD_OUT' } } }) // sets the flag
    const added = await trpc(web.url, 'admin.updateCoupon', { input: { id: couponId, stockDelta: 1 }, token: adminToken, mutation: true })
    expect(added).toMatchObject({ status: 200, data: { id: couponId } })
    // Well inside the flag's one-second life: only the invalidation lets this through.
    expect(await buy(second!.token)).toMatchObject({ status: 200, data: { status: 'PENDING' } })
    expect(await couponState(couponId)).toMatchObject({ redisStock: 0, totalStock: 2 })
  })
})
