/**
 * The payment worker process (`node .output/worker/index.mjs`): its Kafka consumer settles payments,
 * its reconciler loop runs in the same process, and its health server answers probes and scrapes.
 * This file only composes them and stops them in order on SIGTERM.
 */
import { hostname } from 'node:os'
import { config } from '../config'
import { closeDb, db } from '../db'
import { applyHeapGrowth, WORKER_HEAP_GROWING_PERCENT } from '../heap'
import { createAdmin, createProducer, PAYMENT_GROUP, topics } from '../kafka/client'
import { closeRedis, redis } from '../redis/client'
import { assertNoEviction, EvictionPolicyError } from '../redis/memory-policy'
import { watchDrain } from '../domain/payments/drain'
import { consumerLag } from '../observability/kafka-lag'
import { log, setLogContext } from '../observability/log'
import { dependencies } from '../observability/readiness'
import { metrics, trackConsumerLag } from '../observability/metrics'
import { PaymentConsumer } from './consumer'
import { HealthServer } from './health'
import { ReconcilerLoop } from './reconciler'
import { AdmissionTicker } from '../domain/queue/ticker'
import { Settlement } from './settlement'

setLogContext({ service: 'worker', pid: process.pid })
const cfg = config()
applyHeapGrowth(cfg.HEAP_GROWING_PERCENT ?? WORKER_HEAP_GROWING_PERCENT)
const producer = createProducer()
const admin = createAdmin()
trackConsumerLag(() => consumerLag(admin, topics.paymentRequests, PAYMENT_GROUP))

const settlement = new Settlement(producer)
const consumer = new PaymentConsumer(settlement)
let stopping = false

// `flash-sale worker drain`: stop after the chunk in hand, stay in the group, resume when the flag goes.
const drain = watchDrain(redis(), `${hostname()}:${process.pid}`, {
  pause: async () => {
    metrics.draining.set(1)
    log.info('worker drained by operator: consumption paused')
    await consumer.pause()
  },
  resume: async () => {
    consumer.resume()
    metrics.draining.set(stopping ? 1 : 0)
    log.info('worker resumed by operator')
  },
}, (error) => log.warn('drain flag unreadable', { error }))

const reconciler = new ReconcilerLoop({ producer, admin, consuming: () => settlement.consuming && !drain.draining })
// The waiting rooms' admissions: a small loop of its own (under its own lease), ticking faster than the reconciler.
const admission = new AdmissionTicker({ db: db(), redis: redis() })

// Live: the consumer has not been out of the group, or stuck on a partition with lag, for longer
// than WORKER_STALL_NOT_LIVE_MS. Ready: it is a member whose partitions move, and MySQL, Redis and
// Kafka answer.
const health = new HealthServer({
  live: () => {
    const progress = consumer.progress.verdict()
    return { ok: progress.live, ...progress }
  },
  ready: async () => {
    const progress = consumer.progress.verdict()
    if (stopping) return { ok: false, stopping: true, ...progress }
    const answering = await dependencies(async () => admin)
    const ok = progress.ready && Object.values(answering).every((s) => s === 'ok')
    return { ok, ...progress, outage: !settlement.consuming, ...answering }
  },
})

/**
 * SIGTERM: finish and commit the batch in hand, leave the group (its partitions move to the other
 * workers at once instead of after the session timeout), let a running reconciler pass end, then
 * close connections. A worker that cannot finish within SHUTDOWN_TIMEOUT_MS exits anyway: what it
 * had not committed is delivered again, and settlement is idempotent.
 */
async function shutdown(signal: string) {
  if (stopping) return
  stopping = true
  metrics.draining.set(1)
  drain.stop()
  settlement.stop()
  const started = Date.now()
  log.info('worker stopping', { signal })
  const force = setTimeout(() => {
    log.error('worker shutdown timed out; exiting', { timeoutMs: cfg.SHUTDOWN_TIMEOUT_MS })
    process.exit(1)
  }, cfg.SHUTDOWN_TIMEOUT_MS)
  force.unref()
  const reconciled = reconciler.stop()
  await consumer.stop().catch((error) => log.warn('consumer disconnect failed', { error }))
  await Promise.all([reconciled, admission.stop()])
  await Promise.all([producer.disconnect().catch(() => {}), admin.disconnect().catch(() => {})])
  await closeRedis()
  await closeDb()
  await health.stop()
  log.info('worker stopped', { signal, ms: Date.now() - started })
  process.exit(0)
}
process.on('SIGTERM', () => void shutdown('SIGTERM'))
process.on('SIGINT', () => void shutdown('SIGINT'))

try {
  await assertNoEviction(redis())
} catch (error) {
  if (error instanceof EvictionPolicyError) {
    log.error('refusing to start', { error: error.message })
    process.exit(1)
  }
  // Unreachable now is an outage, not a misconfiguration: consumption pauses until Redis is back.
  log.warn('could not check Redis maxmemory-policy at start-up', { error })
}
await health.start(cfg.METRICS_PORT, cfg.METRICS_HOST)
log.info('worker listening', { host: cfg.METRICS_HOST, port: cfg.METRICS_PORT })
admission.start() // needs Redis and MySQL only: it does not wait for Kafka
// Kafka unreachable at start-up is an outage too: each connection is tried again until it answers.
for (let attempt = 0; !stopping; attempt++) {
  try {
    await Promise.all([producer.connect(), admin.connect()])
    break
  } catch (error) {
    log.warn('Kafka unreachable at start-up; trying again', { error, attempt })
    await new Promise((r) => setTimeout(r, Math.min(500 * 2 ** attempt, 10_000)))
  }
}
await consumer.start()
log.info('worker consuming', { group: PAYMENT_GROUP })
if (!stopping) reconciler.start()
