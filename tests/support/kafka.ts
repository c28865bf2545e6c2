import { db } from '../../server/db'
import { kafka, PAYMENT_GROUP, topics } from '../../server/kafka/client'
import { consumerLag } from '../../server/observability/kafka-lag'
import { redis } from '../../server/redis/client'
import { keys } from '../../server/redis/keys'
import { eventually } from './data'
import { startWorker } from './processes'

/**
 * Waits (bounded) until the payment-workers group has settled every event in the topic: a file that
 * starts a worker armed to fail or die at its first settlement must not hand it what earlier files
 * left, settled or not (a round settled but not committed when its worker died is delivered again).
 */
export async function kafkaDrained(timeoutMs = 60_000): Promise<void> {
  const admin = kafka().admin()
  await admin.connect()
  try {
    const drained = await eventually(
      async () => (await consumerLag(admin, topics.paymentRequests, PAYMENT_GROUP)).every((p) => p.lag === 0),
      timeoutMs,
      250,
    )
    if (!drained) throw new Error(`events still waiting in ${topics.paymentRequests} after ${timeoutMs / 1000} s`)
  } finally {
    await admin.disconnect()
  }
}

/**
 * Settles what other files left: their orders still pending, and their events still in the topic
 * (settled but not committed when their worker died), with a worker of its own, stopped afterwards —
 * so that a file's failpoints hit its own orders, not theirs.
 */
export async function settleLeftovers(): Promise<void> {
  const drain = await startWorker()
  const coupons = (await db().selectFrom('coupons').select('id').execute()).map((c) => Number(c.id))
  await eventually(async () => (await Promise.all(coupons.map((id) => redis().hlen(keys.pending(id))))).every((n) => n === 0), 60_000, 500)
  await kafkaDrained()
  await drain.stop()
}
