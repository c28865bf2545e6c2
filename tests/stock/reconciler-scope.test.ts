import { afterAll, describe, expect, it } from 'vitest'
import { closeDb, db } from '../../server/db'
import { finishInRedis } from '../../server/domain/payments/followup'
import { Reconciler, RESERVED_TIMEOUT_MS } from '../../server/domain/payments/reconciler'
import { settleBatch } from '../../server/domain/payments/settle'
import { LoadBarrier } from '../../server/domain/stock/barrier'
import type { PaymentRequest } from '../../server/kafka/client'
import { closeRedis, redis } from '../../server/redis/client'
import { keys } from '../../server/redis/keys'
import { createCouponOnSale, createUsers } from '../support/data'
import { reserve } from '../support/reservations'

afterAll(async () => {
  await closeRedis()
  await closeDb()
})

describe('what a reconciler pass looks at', () => {
  it('re-publishes a stale reservation of a sale that just ended at every pass, and one of a sale that ended long ago at the full sweep', async () => {
    const [a, b] = await Promise.all([createCouponOnSale({ stock: 2 }), createCouponOnSale({ stock: 2 })])
    const [userA, userB] = await createUsers(2)
    const longAgo = await reserve(a!, userA!)
    const justEnded = await reserve(b!, userB!)
    const republished: PaymentRequest[] = []
    const pass = new Reconciler({
      db: db(), redis: redis(), consuming: () => true, fullSweepEvery: 2,
      republish: async (events) => { republished.push(...events) },
      barrier: new LoadBarrier(async () => []),
    })
    const isOurs = (e: PaymentRequest) => e.orderId === longAgo.orderId || e.orderId === justEnded.orderId
    const ours = () => republished.filter(isOurs).map((e) => e.orderId)

    await pass.pass() // pass 1, a full sweep: both entries are young
    expect(ours()).toEqual([])
    // both sales end (one an hour ago: its workers were down longer than the watch), both entries go stale
    await db().updateTable('coupons').set({ sale_ends_at: new Date(Date.now() - 3_600_000) }).where('id', '=', a!).execute()
    await db().updateTable('coupons').set({ sale_ends_at: new Date(Date.now() - 60_000) }).where('id', '=', b!).execute()
    await new Promise((resolve) => setTimeout(resolve, RESERVED_TIMEOUT_MS + 500))

    await pass.pass() // pass 2: only sales open, to come or ended within the watch
    expect(ours()).toEqual([justEnded.orderId])
    await pass.pass() // pass 3, a full sweep
    expect(ours()).toEqual([justEnded.orderId, longAgo.orderId])

    // the events the reconciler re-published, settled as a worker settles them: nothing stays pending
    await finishInRedis(redis(), await settleBatch(db(), redis(), republished.filter(isOurs)))
    expect(await redis().hlen(keys.pending(a!))).toBe(0)
    expect(await redis().hlen(keys.pending(b!))).toBe(0)
  }, 30_000)
})
