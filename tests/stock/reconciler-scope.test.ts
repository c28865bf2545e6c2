import { afterAll, describe, expect, it } from 'vitest'
import { closeDb, db } from '../../server/db'
import { finishInRedis } from '../../server/domain/payments/followup'
import { Reconciler, RESERVED_TIMEOUT_MS } from '../../server/domain/payments/reconciler'
import { settleBatch } from '../../server/domain/payments/settle'
import { RepublishGate } from '../../server/domain/payments/republish-gate'
import { LoadBarrier } from '../../server/domain/stock/barrier'
import { createAdmin, createProducer, topics, type PaymentRequest } from '../../server/kafka/client'
import { groupPositions } from '../../server/observability/kafka-lag'
import { closeRedis, redis } from '../../server/redis/client'
import { keys } from '../../server/redis/keys'
import { createCouponOnSale, createUsers } from '../support/data'
import { paymentEvent, reserve } from '../support/reservations'

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
      gate: new RepublishGate(async () => []),
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

  it('holds back stale reservations while the workers are behind on Kafka, and re-publishes them once they have caught up', async () => {
    const admin = createAdmin()
    const producer = createProducer()
    await Promise.all([admin.connect(), producer.connect()])
    try {
      const couponId = (await createCouponOnSale({ stock: 2 }))!
      const [queuedUser, lostUser] = await createUsers(2)
      // one reservation whose event waits in Kafka, as after an outage of the workers; one whose event was lost
      const queued = await reserve(couponId, queuedUser!)
      const lost = await reserve(couponId, lostUser!)
      const event = paymentEvent({ orderId: queued.orderId, userId: queuedUser!, couponId })
      await producer.send({ topic: topics.paymentRequests, acks: -1, messages: [{ key: queued.orderId, value: JSON.stringify(event) }] })
      // the workers' group, as the gate sees it: one that has read nothing yet (its position is the log's start)
      const group = `republish-gate-test-${Date.now()}`
      const republished: PaymentRequest[] = []
      const pass = new Reconciler({
        db: db(), redis: redis(), consuming: () => true,
        republish: async (events) => { republished.push(...events) },
        barrier: new LoadBarrier(async () => []),
        gate: new RepublishGate(() => groupPositions(admin, topics.paymentRequests, group)),
      })
      const ours = () => republished.map((e) => e.orderId).filter((id) => id === queued.orderId || id === lost.orderId).sort()
      await new Promise((resolve) => setTimeout(resolve, RESERVED_TIMEOUT_MS + 500))

      const behind = await pass.pass()
      expect(ours(), 'nothing re-published while the group is behind').toEqual([])
      expect(behind.held).toBeGreaterThanOrEqual(2)

      // the group catches up with everything written so far
      const ends = await admin.fetchTopicOffsets(topics.paymentRequests)
      const partitions = ends.map((p) => ({ partition: p.partition, offset: p.high }))
      await admin.setOffsets({ groupId: group, topic: topics.paymentRequests, partitions })
      await pass.pass()
      expect(ours(), 'both stale reservations re-published once it has caught up').toEqual([queued.orderId, lost.orderId].sort())

      // settled as a worker settles them: nothing stays pending (the queued event, when a worker reads it, finds its order settled)
      await finishInRedis(redis(), await settleBatch(db(), redis(), republished.filter((e) => e.couponId === couponId)))
      expect(await redis().hlen(keys.pending(couponId))).toBe(0)
      await admin.deleteGroups([group])
    } finally {
      await Promise.all([admin.disconnect(), producer.disconnect()])
    }
  }, 40_000)
})
