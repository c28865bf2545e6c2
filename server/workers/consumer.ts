import { setTimeout as sleep } from 'node:timers/promises'
import type { Consumer } from 'kafkajs'
import { config } from '../config'
import { createConsumer, fencedBy, PAYMENT_GROUP, topics } from '../kafka/client'
import { log } from '../observability/log'
import { metrics } from '../observability/metrics'
import { ConsumerProgress } from './progress'
import type { Settlement } from './settlement'

/**
 * The payment worker's member of the payment-workers group: takes chunks of SETTLE_BATCH_SIZE events
 * of its partitions, has them settled, and commits each chunk's offsets only after that (MySQL holds
 * the outcome and the Redis follow-up is done).
 *
 * It never dies quietly. kafkajs restarts a consumer by itself only after errors it deems retriable;
 * after any other (e.g. an offset commit refused because the session expired during a stall) its
 * consumer stops for good and says so only through a CRASH event. This class then starts a new
 * consumer, with backoff, for as long as the worker runs. `progress` tells the probes whether it is
 * really consuming.
 */
export class PaymentConsumer {
  readonly progress: ConsumerProgress
  private consumer: Consumer | undefined
  private wanted = false
  private paused = false
  /** kafkajs refuses pause() and resume() before run(). */
  private running = false
  /** The chunk being settled now; a drain waits for it to be committed. */
  private chunkInHand: Promise<unknown> = Promise.resolve()

  constructor(private readonly settlement: Settlement) {
    const cfg = config()
    this.progress = new ConsumerProgress({ notReadyMs: cfg.WORKER_STALL_NOT_READY_MS, notLiveMs: cfg.WORKER_STALL_NOT_LIVE_MS })
  }

  /** Joins the group; while Kafka cannot be reached, tries again with backoff (stop() ends that). */
  async start(): Promise<void> {
    this.wanted = true
    for (let attempt = 0; this.wanted; attempt++) {
      try {
        await this.run()
        return
      } catch (error) {
        log.warn('consumer could not start; trying again', { error, attempt })
        await sleep(Math.min(500 * 2 ** attempt, 10_000))
      }
    }
  }

  private async run(): Promise<void> {
    const cfg = config()
    const consumer = createConsumer({
      groupId: PAYMENT_GROUP,
      // Short, so a dead worker's partitions move quickly; a member that does not rejoin a rebalance
      // within rebalanceTimeout is dropped from it rather than holding the whole group up for a minute.
      sessionTimeout: 10_000,
      rebalanceTimeout: 20_000,
      heartbeatInterval: 3_000,
      maxWaitTimeInMs: 50,
    })
    this.consumer = consumer
    this.running = false
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      this.progress.joined(payload.memberAssignment[topics.paymentRequests] ?? [])
      log.info('consumer joined the group', { memberId: payload.memberId, partitions: payload.memberAssignment[topics.paymentRequests] ?? [] })
    })
    consumer.on(consumer.events.REBALANCING, () => this.progress.left('joining'))
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      this.progress.left('crashed')
      metrics.consumerCrashes.inc({ restart: payload.restart ? 'kafkajs' : 'worker' })
      if (!payload.restart) void this.restartAfter(consumer, payload.error)
    })
    try {
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
          this.progress.fetched(batch.partition, Number(batch.highWatermark), Number(batch.firstOffset()))
          metrics.fetchBatch.observe(batch.messages.length)
          for (let i = 0; i < batch.messages.length; i += size) {
            if (!isRunning() || isStale() || this.paused) return
            const chunk = batch.messages.slice(i, i + size)
            const step = (async () => {
              await this.settlement.handle(chunk, heartbeat)
              const last = chunk[chunk.length - 1]!
              resolveOffset(last.offset)
              const next = Number(last.offset) + 1
              await commitUnlessFenced(consumer, batch.topic, batch.partition, next)
              this.progress.committed(batch.partition, next)
            })()
            this.chunkInHand = step.catch(() => {})
            await step
            await heartbeat()
          }
        },
      })
    } catch (error) {
      await consumer.disconnect().catch(() => {})
      throw error
    }
    this.running = true
    if (this.paused) consumer.pause([{ topic: topics.paymentRequests }])
  }

  /** A consumer kafkajs gave up on: a new one joins in its place (unless the worker is stopping). */
  private async restartAfter(crashed: Consumer, error: unknown): Promise<void> {
    if (!this.wanted || crashed !== this.consumer) return
    log.error('consumer stopped after an error kafkajs does not recover from; joining again with a new consumer', { error })
    await crashed.disconnect().catch(() => {})
    await sleep(1_000)
    if (this.wanted && crashed === this.consumer) await this.start()
  }

  /** Stops after the chunk in hand (committed) and stays in the group; resolves once that chunk is done. */
  async pause(): Promise<void> {
    this.paused = true
    this.progress.pause(true)
    // Before run() there is nothing to pause yet: run() pauses once it runs.
    if (this.running) this.consumer?.pause([{ topic: topics.paymentRequests }])
    await this.chunkInHand
  }

  resume(): void {
    this.paused = false
    this.progress.pause(false)
    if (this.running) this.consumer?.resume([{ topic: topics.paymentRequests }])
  }

  /**
   * Leaves the group after the chunk in hand is settled and committed (kafkajs' disconnect waits for
   * eachBatch), so the partitions move to the other workers at once instead of after the session timeout.
   */
  async stop(): Promise<void> {
    this.wanted = false
    this.progress.left('stopped')
    await this.consumer?.disconnect()
  }
}

/**
 * Commits a settled chunk's offset. A member fenced meanwhile (its session expired during a stall, or
 * the group rebalanced without it) is refused: its partitions belong to another member now, which
 * settles the chunk again (idempotent on the order id) and commits it. The refusal is re-thrown as
 * Kafka's own error, on which kafkajs rejoins the group at once, instead of kafkajs' non-retriable
 * wrapper of it, on which the consumer would stop for good.
 */
async function commitUnlessFenced(consumer: Consumer, topic: string, partition: number, next: number): Promise<void> {
  try {
    await consumer.commitOffsets([{ topic, partition, offset: String(next) }])
  } catch (error) {
    const fenced = fencedBy(error)
    if (!fenced) throw error
    log.warn('offset commit refused: this member was fenced; the partition\'s new owner settles the chunk again', { partition, offset: next, error: fenced.message })
    throw fenced
  }
}
