import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openStack } from '../../scripts/lib/stack.mjs'
import { closeDb, db } from '../../server/db'
import { closePaymentPublisher, purchaseCoupon } from '../../server/domain/orders/purchase'
import { closeRedis, redis } from '../../server/redis/client'
import { couponState, createCouponOnSale, createUsers, creditOf, ensureStockLoaded, eventually } from '../support/data'
import { startWorker, type Proc } from '../support/processes'

let worker: Proc
beforeAll(async () => {
  await ensureStockLoaded()
  worker = await startWorker()
})
afterAll(async () => {
  await worker?.stop()
  await closePaymentPublisher()
  await closeRedis()
  await closeDb()
})

describe('a MySQL outage', () => {
  it('pauses settlement instead of failing or dead-lettering orders, and resumes when MySQL is back', async () => {
    const stack = openStack()
    const couponId = await createCouponOnSale({ stock: 10, price: 100 })
    const users = await createUsers(5, 1_000)
    // Warm the coupon cache so purchases keep working from Redis while MySQL is down.
    await purchaseCoupon(users[0]!, couponId, 'warm-up')
    await eventually(async () => (await couponState(couponId)).paid === 1)

    await stack.stopService('mariadb')
    try {
      const orders = await Promise.all(users.slice(1).map((u, i) => purchaseCoupon(u, couponId, `outage-${i}`)))
      expect(orders.every((o) => o.status === 'PENDING')).toBe(true)
      await eventually(async () => /settlement paused/.test(worker.output()), 20_000, 200)
      expect(worker.output()).not.toMatch(/settlement failed/)
    } finally {
      await stack.startService('mariadb')
    }
    const state = await eventually(async () => {
      const s = await couponState(couponId)
      return s.paid === 5 && s.pending === 0 ? s : null
    }, 60_000, 500)
    expect(state).toMatchObject({ mysqlStock: 5, redisStock: 5, paid: 5 })
    for (const u of users) expect(await creditOf(u)).toBe(900)
    const failed = await db().selectFrom('orders').select('id').where('coupon_id', '=', couponId).where('status', '=', 'FAILED').execute()
    expect(failed).toEqual([])
  }, 120_000)
})

describe('a Redis that refuses writes', () => {
  it('answers TRY_AGAIN_LATER while Redis is out of memory (OOM under noeviction), reserving nothing, and sells again once it has room', async () => {
    const couponId = await createCouponOnSale({ stock: 3, price: 100 })
    const [user] = await createUsers(1, 1_000)
    const [, before] = await redis().config('GET', 'maxmemory') as [string, string]
    await redis().config('SET', 'maxmemory', '1')
    try {
      await expect(purchaseCoupon(user!, couponId, 'oom')).rejects.toMatchObject({ reason: 'TRY_AGAIN_LATER' })
    } finally {
      await redis().config('SET', 'maxmemory', before)
    }
    expect(await couponState(couponId)).toMatchObject({ redisStock: 3, pending: 0, buyers: 0 })
    await expect(purchaseCoupon(user!, couponId, 'room')).resolves.toMatchObject({ status: 'PENDING' })
  })
})
