/**
 * S5: a produce request whose answer is lost although the broker wrote it. Kafka is SIGSTOPped while
 * a batch is sent, so every attempt times out and the send fails; SIGCONT then lets the broker write
 * the batch it had received. kafkajs took the batch's sequence numbers back when the send failed, so
 * its producer would have every later batch refused with OUT_OF_ORDER_SEQUENCE_NUMBER (as after a
 * broker's SIGKILL in tests/ops/kafka-replicated.test.ts). The app's producer is replaced after a
 * failed send (server/kafka/client.ts, createProducer), so the next sends go through.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Admin } from 'kafkajs'
import { createAdmin, createProducer, type Sender } from '../../../server/kafka/client'
import { metrics } from '../../../server/observability/metrics'
import { eventually } from '../../support/data'
import { pauseService } from './harness'

// Each attempt of the send gives up after a second (kafkajs retries 3 times), not the default 5 s.
process.env.KAFKA_REQUEST_TIMEOUT_MS = '1000'

const topic = `producer-renewal-${Date.now()}`
let admin: Admin
let producer: Sender

const highWatermark = async () => Number((await admin.fetchTopicOffsets(topic))[0]!.high)
const renewals = async () => (await metrics.producerRenewals.get()).values[0]?.value ?? 0
const batch = (...values: string[]) => ({ topic, acks: -1, messages: values.map((value) => ({ key: value, value })) })

describe('an idempotent producer whose batch was written but not acknowledged', () => {
  beforeAll(async () => {
    admin = createAdmin()
    await admin.connect()
    await admin.createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 1 }], waitForLeaders: true })
    producer = createProducer()
    await producer.connect()
  })

  afterAll(async () => {
    await producer?.disconnect().catch(() => {})
    await admin?.deleteTopics({ topics: [topic] }).catch(() => {})
    await admin?.disconnect()
  })

  it('is replaced after the failed send, and the sends after it go through', async () => {
    await producer.send(batch('a'))
    expect(await highWatermark()).toBe(1)

    // Stopped until the send gives up: each of its attempts times out, none is answered.
    const paused = await pauseService('kafka')
    let failed: unknown
    try {
      failed = await producer.send(batch('b', 'c')).then(() => undefined, (error: unknown) => error)
    } finally {
      await paused.resume()
    }
    // The fault: the send failed, yet the broker wrote its batch once it ran again.
    expect(failed).toBeInstanceOf(Error)
    const written = await eventually(async () => ((await highWatermark()) === 3 ? true : undefined), 20_000, 200)
    expect(written, 'the unanswered batch was written').toBe(true)
    expect(await renewals()).toBe(1)

    // A batch of another size: kafkajs' old producer would number it from 'b' again and be refused.
    await producer.send(batch('d', 'e', 'f'))
    await producer.send(batch('g'))
    expect(await highWatermark()).toBe(7)
    expect(await renewals()).toBe(1)
  })
})
