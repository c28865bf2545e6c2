import type { Consumer } from 'kafkajs'
import { config } from '../config'
import { kafka, PAYMENT_GROUP, topics } from '../kafka/client'
import type { Settlement } from './settlement'

/**
 * The payment worker's member of the payment-workers group: takes chunks of SETTLE_BATCH_SIZE events
 * of its partitions, has them settled, and commits each chunk's offsets only after that (MySQL holds
 * the outcome and the Redis follow-up is done).
 */
export class PaymentConsumer {
  private consumer: Consumer | undefined
  private paused = false
  /** kafkajs refuses pause() and resume() before run(). */
  private running = false
  /** The chunk being settled now; a drain waits for it to be committed. */
  private chunkInHand: Promise<unknown> = Promise.resolve()

  constructor(private readonly settlement: Settlement) {}

  async start(): Promise<void> {
    const cfg = config()
    const consumer = kafka().consumer({ groupId: PAYMENT_GROUP, sessionTimeout: 10_000, heartbeatInterval: 3_000, maxWaitTimeInMs: 50 })
    this.consumer = consumer
    await consumer.connect()
    await consumer.subscribe({ topic: topics.paymentRequests, fromBeginning: true })
    await consumer.run({
      // Batches of different partitions settle in parallel transactions: while one waits on MySQL's
      // commit, the next is claimed in Redis. Each partition still settles and commits in order.
      partitionsConsumedConcurrently: cfg.SETTLE_PARTITIONS_CONCURRENTLY,
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
        const size = cfg.SETTLE_BATCH_SIZE
        for (let i = 0; i < batch.messages.length; i += size) {
          if (!isRunning() || isStale() || this.paused) return
          const chunk = batch.messages.slice(i, i + size)
          const step = (async () => {
            await this.settlement.handle(chunk, heartbeat)
            const last = chunk[chunk.length - 1]!
            resolveOffset(last.offset)
            await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: String(Number(last.offset) + 1) }])
          })()
          this.chunkInHand = step.catch(() => {})
          await step
          await heartbeat()
        }
      },
    })
    this.running = true
    if (this.paused) consumer.pause([{ topic: topics.paymentRequests }])
  }

  /** Stops after the chunk in hand (committed) and stays in the group; resolves once that chunk is done. */
  async pause(): Promise<void> {
    this.paused = true
    // Before run() there is nothing to pause yet: start() pauses once it runs.
    if (this.running) this.consumer?.pause([{ topic: topics.paymentRequests }])
    await this.chunkInHand
  }

  resume(): void {
    this.paused = false
    if (this.running) this.consumer?.resume([{ topic: topics.paymentRequests }])
  }

  /**
   * Leaves the group after the chunk in hand is settled and committed (kafkajs' disconnect waits for
   * eachBatch), so the partitions move to the other workers at once instead of after the session timeout.
   */
  async stop(): Promise<void> {
    await this.consumer?.disconnect()
  }
}
