import { setTimeout as sleep } from 'node:timers/promises'
import type { Consumer } from 'kafkajs'
import { config } from '../config'
import { createConsumer, fencedBy, PAYMENT_GROUP, topics } from '../kafka/client'
import { log } from '../observability/log'
import { metrics } from '../observability/metrics'
import { ConsumerProgress } from './progress'
import { Rounds, type Chunk } from './rounds'
import type { Settlement } from './settlement'

/** A round of fewer events than this is not load: the next fetch does not wait for more. */
const LINGER_FROM_EVENTS = 16
/** Short, so a dead worker's partitions move quickly (and a stop waits for a join at most this long). */
const SESSION_TIMEOUT_MS = 10_000

/**
 * The payment worker's member of the payment-workers group: takes chunks of SETTLE_BATCH_SIZE events
 * of its partitions, has the chunks handed in at once settled together (server/workers/rounds.ts), and
 * commits their offsets only after that (MySQL holds the outcome and the Redis follow-up is done).
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
  /** The consumer being connected and joined now, if it is: a stop waits for it (see stop()). */
  private joining: Promise<void> | undefined
  /** The running consumer's rounds; a drain waits for those in flight or waiting to be committed. */
  private rounds: Rounds | undefined
  /** kafkajs' heartbeat of the running consumer (each batch hands in the same one). */
  private heartbeat: () => Promise<void> = async () => {}

  constructor(private readonly settlement: Settlement) {
    const cfg = config()
    this.progress = new ConsumerProgress({ notReadyMs: cfg.WORKER_STALL_NOT_READY_MS, notLiveMs: cfg.WORKER_STALL_NOT_LIVE_MS })
  }

  /** Joins the group; while Kafka cannot be reached, tries again with backoff (stop() ends that). */
  async start(): Promise<void> {
    this.wanted = true
    for (let attempt = 0; this.wanted; attempt++) {
      try {
        this.joining = this.run()
        await this.joining
        return
      } catch (error) {
        log.warn('consumer could not start; trying again', { error, attempt })
        await sleep(Math.min(500 * 2 ** attempt, 10_000))
      } finally {
        this.joining = undefined
      }
    }
  }

  private async run(): Promise<void> {
    const cfg = config()
    const consumer = createConsumer({
      groupId: PAYMENT_GROUP,
      // A member that does not rejoin a rebalance within rebalanceTimeout is dropped from it rather
      // than holding the whole group up for a minute.
      sessionTimeout: SESSION_TIMEOUT_MS,
      rebalanceTimeout: 20_000,
      heartbeatInterval: 3_000,
      minBytes: cfg.SETTLE_FETCH_MIN_BYTES,
      maxWaitTimeInMs: cfg.SETTLE_FETCH_MAX_WAIT_MS,
      // kafkajs' own restart after a retriable crash, which would otherwise also follow a stop that
      // cut a join short: the new member would join just before the process exits.
      retry: { retries: 5, restartOnFailure: async () => this.wanted },
    })
    this.consumer = consumer
    this.running = false
    const rounds = this.rounds = new Rounds((chunks) => this.settleRound(consumer, chunks), {
      inFlight: cfg.SETTLE_ROUNDS_IN_FLIGHT,
      overlapFrom: cfg.SETTLE_BATCH_SIZE,
    })
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      this.progress.joined(payload.memberAssignment[topics.paymentRequests] ?? [])
      log.info('consumer joined the group', {
        memberId: payload.memberId,
        partitions: payload.memberAssignment[topics.paymentRequests] ?? [],
      })
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
        // The chunks these batches hand in at once settle as one round, and under a backlog two rounds
        // overlap (rounds.ts). Each partition still settles and commits in order.
        partitionsConsumedConcurrently: cfg.SETTLE_PARTITIONS_CONCURRENTLY,
        autoCommit: false,
        eachBatchAutoResolve: false,
        eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
          const size = cfg.SETTLE_BATCH_SIZE
          this.heartbeat = heartbeat
          this.progress.fetched(batch.partition, Number(batch.highWatermark), Number(batch.firstOffset()))
          metrics.fetchBatch.observe(batch.messages.length)
          for (let i = 0; i < batch.messages.length; i += size) {
            if (!isRunning() || isStale() || this.paused) return
            const chunk = batch.messages.slice(i, i + size)
            await rounds.submit({ partition: batch.partition, messages: chunk })
            resolveOffset(chunk[chunk.length - 1]!.offset)
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

  /**
   * Settles a round of chunks (several partitions' at once), commits their offsets in one request,
   * then, under load, lets the next fetch wait (SETTLE_LINGER_MS from the round's start) so that the
   * next round is a fuller one: a worker that settles a few events as fast as it can spends its CPU,
   * MySQL's and the broker's on per-round costs. A round of a few events is no load, and a full one
   * means more are waiting: neither waits.
   */
  private async settleRound(consumer: Consumer, chunks: Chunk[]): Promise<void> {
    const started = performance.now()
    const events = chunks.reduce((n, c) => n + c.messages.length, 0)
    await this.settlement.handle(chunks.flatMap((c) => c.messages), this.heartbeat)
    const offsets = chunks.map((c) => ({ partition: c.partition, offset: Number(c.messages[c.messages.length - 1]!.offset) + 1 }))
    await commitUnlessFenced(consumer, topics.paymentRequests, offsets)
    for (const { partition, offset } of offsets) this.progress.committed(partition, offset)
    await this.heartbeat()
    const full = chunks.some((c) => c.messages.length >= config().SETTLE_BATCH_SIZE)
    const wait = config().SETTLE_LINGER_MS - (performance.now() - started)
    if (events >= LINGER_FROM_EVENTS && !full && wait > 0 && !this.paused) await sleep(wait)
  }

  /** A consumer kafkajs gave up on: a new one joins in its place (unless the worker is stopping). */
  private async restartAfter(crashed: Consumer, error: unknown): Promise<void> {
    if (!this.wanted || crashed !== this.consumer) return
    log.error('consumer stopped after an error kafkajs does not recover from; joining again with a new consumer', { error })
    await crashed.disconnect().catch(() => {})
    await sleep(1_000)
    if (this.wanted && crashed === this.consumer) await this.start()
  }

  /** Stops after the rounds in hand and the chunks waiting (committed) and stays in the group; resolves once they are done. */
  async pause(): Promise<void> {
    this.paused = true
    this.progress.pause(true)
    // Before run() there is nothing to pause yet: run() pauses once it runs.
    if (this.running) this.consumer?.pause([{ topic: topics.paymentRequests }])
    await this.rounds?.idle()
  }

  resume(): void {
    this.paused = false
    this.progress.pause(false)
    if (this.running) this.consumer?.resume([{ topic: topics.paymentRequests }])
  }

  /**
   * Leaves the group after the chunk in hand is settled and committed (kafkajs' disconnect waits for
   * eachBatch), so the partitions move to the other workers at once instead of after the session timeout.
   * A stop during the join lets the join finish first (for at most the session timeout): kafkajs leaves
   * the group only as a member, and a join cut short leaves one behind that the broker keeps, holding
   * the other workers' rebalance up, until its session times out.
   */
  async stop(): Promise<void> {
    this.wanted = false
    this.progress.left('stopped')
    if (this.joining) await Promise.race([this.joining.catch(() => {}), sleep(SESSION_TIMEOUT_MS)])
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
async function commitUnlessFenced(consumer: Consumer, topic: string, offsets: { partition: number, offset: number }[]): Promise<void> {
  try {
    await consumer.commitOffsets(offsets.map(({ partition, offset }) => ({ topic, partition, offset: String(offset) })))
  } catch (error) {
    const fenced = fencedBy(error)
    if (!fenced) throw error
    log.warn('offset commit refused: this member was fenced; the partitions\' new owner settles the round again', { offsets, error: fenced.message })
    throw fenced
  }
}
