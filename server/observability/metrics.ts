import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import { cacheStats, type CacheStat } from '../cache/metrics'

/**
 * Prometheus metrics of this process (web or worker), served at /metrics. Names start with `flash_`;
 * docs/operating.md ("Metrics", "Alerts") says which ones to alert on.
 */
export const registry = new Registry()
collectDefaultMetrics({ register: registry })

const registers = [registry]
const BATCH_BUCKETS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000]

export const metrics = {
  requests: new Histogram({
    name: 'flash_trpc_request_seconds',
    help: 'tRPC procedure latency (its _count is the request rate) by procedure and tRPC code',
    labelNames: ['procedure', 'code'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
    registers,
  }),
  purchases: new Counter({
    name: 'flash_purchase_attempts_total',
    help: 'order.purchase answers by outcome: PENDING (reserved) or the refusal reason',
    labelNames: ['outcome'],
    registers,
  }),
  wsConnections: new Gauge({ name: 'flash_ws_connections', help: 'Open WebSocket connections', registers }),
  wsSubscriptions: new Gauge({ name: 'flash_ws_subscriptions', help: 'Open tRPC subscriptions on /ws (every kind)', registers }),
  pubsubDeliveries: new Counter({
    name: 'flash_pubsub_deliveries_total',
    help: 'Order updates received over pub/sub and pushed to order.onUpdate subscriptions',
    registers,
  }),
  pubsubPublished: new Counter({
    name: 'flash_pubsub_published_total',
    help: 'Order updates published to web instances (one per instance holding a socket of the shopper)',
    registers,
  }),
  settled: new Counter({
    name: 'flash_payments_settled_total',
    help: 'Settled payments by status and reason (rate = settlement throughput)',
    labelNames: ['status', 'reason'],
    registers,
  }),
  settleSeconds: new Histogram({
    name: 'flash_settle_batch_seconds',
    help: 'Time to settle one batch',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
    registers,
  }),
  settleLatency: new Histogram({
    name: 'flash_settle_latency_seconds',
    help: 'Reservation to settlement',
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 60],
    registers,
  }),
  deadLettered: new Counter({ name: 'flash_payments_dead_lettered_total', help: 'Events sent to the dead-letter topic', registers }),
  unparsableEntries: new Counter({
    name: 'flash_reconciler_unparsable_entries_total',
    help: 'Pending entries the reconciler could not parse and skipped',
    registers,
  }),
  stockRepairs: new Counter({
    name: 'flash_stock_repairs_total',
    help: 'Coupons whose Redis state was repaired or loaded from MySQL, by cause',
    labelNames: ['cause'],
    registers,
  }),
  workerPaused: new Gauge({ name: 'flash_worker_paused', help: '1 while consumption waits out an outage', registers }),
  queueJoins: new Counter({
    name: 'flash_queue_joins_total',
    help: 'Waiting-room joins answered: joined (a new place) or kept (already in the line)',
    labelNames: ['result'],
    registers,
  }),
  queueProofFailures: new Counter({
    name: 'flash_queue_proof_failures_total',
    help: 'queue.join refused for its proof of work, by problem (insufficient, expired, not-yours, malformed)',
    labelNames: ['problem'],
    registers,
  }),
  queueLength: new Gauge({
    name: 'flash_queue_length',
    help: "Shoppers waiting in a coupon's waiting room, not yet admitted (set by the admission ticker)",
    labelNames: ['coupon'],
    registers,
  }),
  queueFreeUnits: new Gauge({
    name: 'flash_queue_free_units',
    help: 'Units the waiting room may still admit shoppers for: stock less unused admissions',
    labelNames: ['coupon'],
    registers,
  }),
  queueAdmitting: new Gauge({
    name: 'flash_queue_admitting',
    help: '1 while a waiting room admits (open sale, stock in Redis), 0 before the opening',
    labelNames: ['coupon'],
    registers,
  }),
  queueAdmitted: new Counter({
    name: 'flash_queue_admitted_total',
    help: 'Shoppers admitted from a waiting room',
    labelNames: ['coupon'],
    registers,
  }),
  queueRestored: new Counter({
    name: 'flash_queue_restored_total',
    help: 'Waiting-room places Redis had lost, put back from their MySQL records',
    labelNames: ['coupon'],
    registers,
  }),
  consumerCrashes: new Counter({
    name: 'flash_consumer_crashes_total',
    help: 'Kafka consumer crashes, by who restarted it: kafkajs itself, or the worker with a new consumer',
    labelNames: ['restart'],
    registers,
  }),
  producerRenewals: new Counter({
    name: 'flash_kafka_producer_renewals_total',
    help: 'Kafka producers replaced by a new one (a new producer id) after a send that failed',
    registers,
  }),
  draining: new Gauge({
    name: 'flash_draining',
    help: '1 once SIGTERM was received and the process is finishing in-flight work',
    registers,
  }),
  // What the broker is asked: its cost is per request, so requests per purchase and messages per
  // request are the figures that tell whether batching works (bench/lib/pipeline.mjs reads them).
  kafkaRequests: new Counter({
    name: 'flash_kafka_requests_total',
    help: 'Requests this process sent to Kafka brokers, by client role and API (Produce, Fetch, OffsetCommit, Heartbeat…)',
    labelNames: ['client', 'api'],
    registers,
  }),
  produceBatch: new Histogram({
    name: 'flash_kafka_produce_batch_messages',
    help: "Payment events per produce request of the web's publisher",
    buckets: BATCH_BUCKETS,
    registers,
  }),
  fetchBatch: new Histogram({
    name: 'flash_kafka_fetch_batch_messages',
    help: 'Payment events per fetched partition batch handed to the worker',
    buckets: BATCH_BUCKETS,
    registers,
  }),
  settleBatchSize: new Histogram({
    name: 'flash_settle_batch_payments',
    help: 'Payment events settled together (one MySQL transaction, one Redis follow-up round trip)',
    buckets: BATCH_BUCKETS,
    registers,
  }),
}

/**
 * One finished tRPC call: latency and rate per procedure and code, and for `order.purchase` its
 * outcome (the error's reason, e.g. SOLD_OUT or ALREADY_PURCHASED; the code when there is none).
 */
export function observeProcedure(path: string, code: string, seconds: number, reason?: string): void {
  metrics.requests.observe({ procedure: path, code }, seconds)
  if (path === 'order.purchase') metrics.purchases.inc({ outcome: code === 'OK' ? 'PENDING' : reason ?? code })
}

/*
 * The catalogue cache keeps plain counters (server/cache/metrics.ts); these read them at scrape
 * time. Counters are set to the current value, so a test's resetCacheStats() shows up as a counter
 * reset, which Prometheus' rate() handles.
 */
function counterOf(name: string, help: string, labelNames: string[], read: () => [Record<string, string>, number][]) {
  return new Counter({
    name, help, labelNames, registers,
    collect() {
      this.reset()
      for (const [labels, value] of read()) this.inc(labels, value)
    },
  })
}
const stat = (name: CacheStat) => cacheStats[name]

counterOf('flash_cache_requests_total', 'Catalogue cache lookups by level (l1 = this process, l2 = Redis) and result', ['level', 'result'], () => [
  [{ level: 'l1', result: 'hit' }, stat('l1Hit')],
  [{ level: 'l1', result: 'miss' }, stat('l1Miss')],
  [{ level: 'l2', result: 'hit' }, stat('l2Hit')],
  [{ level: 'l2', result: 'miss' }, stat('l2Miss')],
])
counterOf('flash_cache_db_loads_total', 'MySQL reads made to fill the catalogue cache', [], () => [[{}, stat('dbLoad')]])
counterOf('flash_cache_lock_total', 'Page-rebuild mutex events: contended (held by another process), extended (watchdog), lost', ['event'], () => [
  [{ event: 'contended' }, stat('lockContended')],
  [{ event: 'extended' }, stat('lockExtended')],
  [{ event: 'lost' }, stat('lockLost')],
])
counterOf('flash_cache_lock_loser_answers_total', 'How lock losers were answered: stale L1 copy or TRY_AGAIN_LATER', ['answer'], () => [
  [{ answer: 'stale' }, stat('staleServed')],
  [{ answer: 'try_again_later' }, stat('tryAgainLater')],
])
counterOf('flash_cache_invalidations_total', 'Cache invalidation messages applied', [], () => [[{}, stat('invalidations')]])

/** Lag per partition: the log end offset minus the group's committed offset. */
export type LagReader = () => Promise<{ topic: string, partition: number, lag: number }[]>

let lagReader: LagReader | undefined
const LAG_TIMEOUT_MS = 2_000

/** Worker: reports the consumer group's lag at each scrape (read with `read`, bounded by a timeout). */
export function trackConsumerLag(read: LagReader): void {
  lagReader = read
}

new Gauge({
  name: 'flash_kafka_consumer_lag',
  help: 'Messages of payment-requests not yet committed by the payment-workers group, per partition',
  labelNames: ['topic', 'partition'],
  registers,
  async collect() {
    if (!lagReader) return
    let timer: NodeJS.Timeout | undefined
    try {
      const lags = await Promise.race([
        lagReader(),
        new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error('timeout')), LAG_TIMEOUT_MS) }),
      ])
      this.reset()
      for (const { topic, partition, lag } of lags) this.set({ topic, partition: String(partition) }, lag)
    } catch {
      // Kafka unreachable: keep the last values rather than fail the scrape (flash_worker_paused tells).
    } finally {
      clearTimeout(timer)
    }
  },
})

export async function metricsText(): Promise<{ contentType: string, body: string }> {
  return { contentType: registry.contentType, body: await registry.metrics() }
}
