import { Kafka, logLevel } from 'kafkajs'
import type { Admin, Consumer, LogEntry, Message, Producer, ProducerRecord, RecordMetadata } from 'kafkajs'
import { config } from '../config'
import { log } from '../observability/log'
import { metrics } from '../observability/metrics'
import { keyPartitioner } from './partitioner'

// Producers made here partition by key as the Java client does (./partitioner.ts); kafkajs' notice
// about its default partitioner's change since v1 is noise for any other.
process.env.KAFKAJS_NO_PARTITIONER_WARNING ??= '1'

/** Topic and group names (docs/architecture.md, "Kafka"). kafkajs stays behind this module. */
export const topics = {
  paymentRequests: 'payment-requests',
  deadLetters: 'payment-requests.dlq',
} as const
export const PAYMENT_GROUP = 'payment-workers'

/** kafkajs' own log lines go through the process's logger (one format, one level threshold). */
const kafkaLog = log.child({ logger: 'kafkajs' })
function logCreator() {
  return ({ level, log: entry }: LogEntry) => {
    const { message, ...fields }: Record<string, unknown> = entry
    delete fields.timestamp // the logger stamps its own time
    delete fields.logger
    const write =
      level <= logLevel.ERROR
        ? kafkaLog.error
        : level === logLevel.WARN
          ? kafkaLog.warn
          : level === logLevel.INFO
            ? kafkaLog.info
            : kafkaLog.debug
    write(String(message), fields)
  }
}

let shared: Kafka | undefined
export function kafka(): Kafka {
  const cfg = config()
  shared ??= new Kafka({
    clientId: cfg.KAFKA_CLIENT_ID,
    brokers: cfg.KAFKA_BROKERS,
    logLevel: logLevel.WARN,
    logCreator,
    retry: { retries: 3, initialRetryTime: 100, maxRetryTime: 2000 },
    connectionTimeout: 3000,
    // A stalled broker keeps its connections open: without this a send or a commit would wait 30 s.
    requestTimeout: cfg.KAFKA_REQUEST_TIMEOUT_MS,
  })
  return shared
}

/**
 * Kafka's answers that mean this consumer is no longer the member that owns its partitions: its
 * session expired (UNKNOWN_MEMBER_ID), or the group moved on to a new generation without it.
 */
const FENCED = new Set(['UNKNOWN_MEMBER_ID', 'ILLEGAL_GENERATION', 'REBALANCE_IN_PROGRESS', 'FENCED_INSTANCE_ID'])

/** The Kafka error, somewhere in `error`'s causes, that fenced this member; undefined if none did. */
export function fencedBy(error: unknown): Error | undefined {
  for (let e = error, depth = 0; e && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (FENCED.has(String((e as { type?: unknown }).type))) return e as Error
  }
  return undefined
}

/** What the app sends with: a producer's connect, send and disconnect. */
export type Sender = Pick<Producer, 'connect' | 'send' | 'disconnect'>

/**
 * An idempotent producer (acks from all in-sync replicas, no duplicates on retry) that is replaced by
 * a new one after a send that failed; a key goes to the partition the Java client and kafkajs'
 * default partitioner give it (murmur2).
 */
export function createProducer(): Sender {
  return new RenewingProducer()
}

/**
 * Why a failed send replaces the producer: kafkajs numbers each partition's batches and, when a
 * produce request fails, takes the batch's numbers back, also when the broker did write it and only
 * its answer was lost (a leader killed after replicating it, a request that timed out in a stalled
 * broker). Every later batch to that partition is then refused with OUT_OF_ORDER_SEQUENCE_NUMBER for
 * as long as the producer lives (every purchase of the instance answered TRY_AGAIN_LATER), or, were
 * it the same size as the lost one, taken for its duplicate and acknowledged unwritten. Other clients
 * treat that state as fatal and make a new producer too. A new producer gets a new producer id from
 * the broker, whose numbers start again at 0 and cannot meet the lost batch's. What the failed send
 * carried was answered as failed already; the old producer is disconnected in the background.
 */
class RenewingProducer implements Sender {
  private current = RenewingProducer.open()

  private static open(): { producer: Producer, connected?: Promise<void> } {
    const producer = kafka().producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: keyPartitioner,
    })
    producer.on(producer.events.REQUEST, countRequest('producer'))
    return { producer }
  }

  /** Connects the current producer once; after a failure the next call tries again. */
  connect(): Promise<void> {
    const current = this.current
    current.connected ??= current.producer.connect().catch((error: unknown) => {
      current.connected = undefined
      throw error
    })
    return current.connected
  }

  async send(record: ProducerRecord): Promise<RecordMetadata[]> {
    const current = this.current
    await this.connect()
    try {
      return await current.producer.send(record)
    } catch (error) {
      this.renew(current, error)
      throw error
    }
  }

  private renew(failed: RenewingProducer['current'], error: unknown): void {
    if (this.current !== failed) return // a concurrent send renewed it already
    this.current = RenewingProducer.open()
    metrics.producerRenewals.inc()
    log.warn('Kafka producer replaced after a failed send', { error })
    failed.producer.disconnect().catch(() => {})
  }

  async disconnect(): Promise<void> {
    const current = this.current
    current.connected = undefined
    await current.producer.disconnect()
  }
}

/**
 * Messages per produce request when many go at once (the reconciler's re-publishing, a DLQ replay): a
 * payment event is under 500 bytes, so even all in one partition a request stays well under the
 * broker's 1 MB per batch (message.max.bytes), which refused a single request of tens of thousands.
 */
const SEND_CHUNK = 1_000

/** Sends messages with acks from all in-sync replicas, SEND_CHUNK per produce request, in order. */
export async function sendInChunks(producer: Sender, topic: string, messages: Message[]): Promise<void> {
  for (let i = 0; i < messages.length; i += SEND_CHUNK) {
    await producer.send({ topic, acks: -1, messages: messages.slice(i, i + SEND_CHUNK) })
  }
}

/** A consumer whose requests are counted (flash_kafka_requests_total). */
export function createConsumer(options: Parameters<Kafka['consumer']>[0]): Consumer {
  const consumer = kafka().consumer(options)
  consumer.on(consumer.events.REQUEST, countRequest('consumer'))
  return consumer
}

/** An admin client whose requests are counted (flash_kafka_requests_total). */
export function createAdmin(): Admin {
  const admin = kafka().admin()
  admin.on(admin.events.REQUEST, countRequest('admin'))
  return admin
}

/** Counts each request a client sends, by API, from kafkajs' own instrumentation event. */
function countRequest(client: 'producer' | 'consumer' | 'admin') {
  return ({ payload }: { payload: { apiName: string } }) => metrics.kafkaRequests.inc({ client, api: payload.apiName })
}

export interface PaymentRequest {
  v: 1
  orderId: string
  userId: number
  couponId: number
  price: number
  serverId: string
  requestId: string
  /** Reservation time, ISO-8601. */
  createdAt: string
}

/**
 * Sends the payment events of concurrent purchases in as few produce requests as keep latency low:
 * an event published when nothing was sent for `intervalMs` goes out at once (with whatever the same
 * turn of the event loop published), so an idle shop adds no wait; under load, produce requests are
 * at least `intervalMs` apart and one at a time, and the events published meanwhile gather into the
 * next one. Each shopper still awaits the acknowledgement of their own message (docs/decisions.md,
 * "Kafka between the purchase and the payment"): the broker's cost is per request, not per event.
 */
export class BatchingPublisher {
  private queue: { key: string, value: string, resolve: () => void, reject: (e: unknown) => void }[] = []
  private timer: NodeJS.Timeout | undefined
  private scheduled = false
  private sending: Promise<void> | undefined
  private lastSendAt = -Infinity

  constructor(
    private readonly producer: Sender,
    private readonly topic: string,
    private readonly intervalMs = 2,
    private readonly maxBatch = 500,
  ) {}

  /**
   * Connects the producer (the brokers' metadata, the idempotent producer's id; once, see
   * createProducer). Publishing connects too, but an instance connects at start, so that this does
   * not count against the first purchases' publish timeout.
   */
  connect(): Promise<void> {
    return this.producer.connect()
  }

  publish(key: string, value: object): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ key, value: JSON.stringify(value), resolve, reject })
      this.schedule()
    })
  }

  /** The next send: after the one in flight, and `intervalMs` after the previous one began. */
  private schedule(): void {
    if (this.sending || this.timer || this.scheduled || !this.queue.length) return
    const wait = this.lastSendAt + this.intervalMs - performance.now()
    if (wait > 0) {
      this.timer = setTimeout(() => this.send(), wait)
      return
    }
    this.scheduled = true
    setImmediate(() => this.send())
  }

  private send(): void {
    this.timer = undefined
    this.scheduled = false
    if (this.sending || !this.queue.length) return
    const batch = this.queue.splice(0, this.maxBatch)
    this.lastSendAt = performance.now()
    metrics.produceBatch.observe(batch.length)
    this.sending = this.producer.send({ topic: this.topic, acks: -1, messages: batch.map(({ key, value }) => ({ key, value })) })
      .then(
        () => batch.forEach((m) => m.resolve()),
        (error: unknown) => batch.forEach((m) => m.reject(error)),
      )
      .finally(() => {
        this.sending = undefined
        this.schedule()
      })
  }

  async close(): Promise<void> {
    clearTimeout(this.timer)
    this.timer = undefined
    while (this.queue.length || this.sending) {
      this.send()
      await this.sending
    }
    await this.producer.disconnect()
  }
}
