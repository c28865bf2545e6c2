import { kafka, PAYMENT_GROUP, topics } from '../../server/kafka/client'
import { consumerLag } from '../../server/observability/kafka-lag'
import { eventually } from './data'

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
