/**
 * The payment worker: consumes payment-requests in the payment-workers group, settles each batch in
 * MySQL, finishes the Redis side, commits offsets only after that, and tells shoppers. Its reconciler
 * runs in the same process. Start: `node .output/worker/index.mjs`.
 */
import { randomUUID } from 'node:crypto'
import { createServer } from 'node:http'
import { hostname } from 'node:os'
import type { KafkaMessage } from 'kafkajs'
import { config } from '../config'
import { closeDb, db } from '../db'
import { createProducer, kafka, PAYMENT_GROUP, topics, type PaymentRequest } from '../kafka/client'
import { closeRedis, redis } from '../redis/client'
import { keys } from '../redis/keys'
import { assertNoEviction, EvictionPolicyError } from '../redis/memory-policy'
import { leaseScript } from '../redis/scripts'
import { failpoint } from '../domain/failpoints'
import { finishInRedis, notifyShopper, type SettledOrder } from '../domain/payments/followup'
import { isTransient, parsePaymentRequest } from '../domain/payments/events'
import { recordFailure, settleBatch } from '../domain/payments/settle'
import { Reconciler } from '../domain/payments/reconciler'
import { watchDrain } from '../domain/payments/drain'
import { LoadBarrier } from '../domain/stock/barrier'
import { AdmissionTicker } from '../domain/queue/ticker'
import { consumerLag, groupPositions } from '../observability/kafka-lag'
import { log, setLogContext } from '../observability/log'
import { metrics, metricsText, trackConsumerLag } from '../observability/metrics'

setLogContext({ service: 'worker', pid: process.pid })
const cfg = config()
const producer = createProducer()
const consumer = kafka().consumer({ groupId: PAYMENT_GROUP, sessionTimeout: 10_000, heartbeatInterval: 3_000, maxWaitTimeInMs: 50 })
const admin = kafka().admin()
let consuming = true
let stopping = false
trackConsumerLag(() => consumerLag(admin, topics.paymentRequests, PAYMENT_GROUP))

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function sendToDeadLetters(messages: Pick<KafkaMessage, 'key' | 'value' | 'headers'>[], why: string) {
  await failpoint('worker.dead-letter')
  await producer.send({ topic: topics.deadLetters, messages: messages.map((m) => ({ key: m.key, value: m.value, headers: { ...m.headers, error: why } })) })
}

async function afterCommit(outcomes: SettledOrder[]) {
  await finishInRedis(redis(), outcomes)
}

/** Pauses consumption while an outage lasts (the reconciler re-publishes nothing meanwhile). */
async function waitOutOutage(error: unknown, attempt: number, heartbeat: () => Promise<void>, what: string) {
  consuming = false
  metrics.workerPaused.set(1)
  log.warn(`${what} paused: dependency unavailable`, { error, attempt })
  await sleep(Math.min(200 * 2 ** Math.min(attempt, 5), 5_000))
  await heartbeat().catch(() => {})
}

/**
 * A step of the failure path (recording the failed order, the dead-letter send, its follow-up), retried
 * with backoff: through an outage for as long as it lasts, otherwise a few times, then reported and
 * skipped — so the failure path can neither escape nor wedge the partition.
 */
async function failurePathStep(step: string, heartbeat: () => Promise<void>, work: () => Promise<unknown>): Promise<void> {
  for (let attempt = 0, failures = 0; ; attempt++) {
    try {
      await work()
      if (!consuming) {
        consuming = true
        metrics.workerPaused.set(0)
      }
      return
    } catch (error) {
      if (stopping) throw error
      if (isTransient(error)) {
        await waitOutOutage(error, attempt, heartbeat, step)
        continue
      }
      failures++
      log.error('failure path step failed', { step, error, failures })
      if (failures >= 5) return
      await sleep(100 * 2 ** failures)
    }
  }
}

/** Settles events, waiting out outages (consumption pauses) and isolating events that keep failing. */
async function settleWithRetries(events: PaymentRequest[], heartbeat: () => Promise<void>): Promise<SettledOrder[]> {
  let failures = 0
  for (let attempt = 0; ; attempt++) {
    try {
      await failpoint('worker.before-settle')
      const outcomes = await settleBatch(db(), redis(), events)
      await failpoint('worker.after-commit')
      await afterCommit(outcomes)
      consuming = true
      return outcomes
    } catch (error) {
      if (stopping) throw error
      if (isTransient(error)) {
        await waitOutOutage(error, attempt, heartbeat, 'settlement')
        continue
      }
      failures++
      log.error('settlement failed', { error, events: events.length, failures })
      if (failures < 3) {
        await sleep(100 * failures)
        continue
      }
      if (events.length === 1) return [await parkPoison(events[0]!, error, heartbeat)]
      const outcomes: SettledOrder[] = []
      for (const event of events) outcomes.push(...await settleWithRetries([event], heartbeat))
      return outcomes
    } finally {
      metrics.workerPaused.set(consuming ? 0 : 1)
    }
  }
}

/** An event that keeps failing for a reason other than an outage: dead-lettered, its order FAILED and released. */
async function parkPoison(event: PaymentRequest, error: unknown, heartbeat: () => Promise<void>): Promise<SettledOrder> {
  let order: SettledOrder = { orderId: event.orderId, userId: event.userId, couponId: event.couponId, status: 'FAILED', reason: 'PAYMENT_ERROR' }
  await failurePathStep('record failed order', heartbeat, async () => { order = (await recordFailure(db(), event, 'PAYMENT_ERROR')).order })
  await failurePathStep('dead-letter send', heartbeat, () => sendToDeadLetters([{ key: Buffer.from(event.orderId), value: Buffer.from(JSON.stringify(event)) }], String(error)))
  await failurePathStep('release', heartbeat, () => afterCommit([order]))
  metrics.deadLettered.inc()
  return order
}

async function handleMessages(messages: KafkaMessage[], heartbeat: () => Promise<void>) {
  const events: PaymentRequest[] = []
  const poison: KafkaMessage[] = []
  for (const m of messages) {
    const event = parsePaymentRequest(m.value)
    if (event) events.push(event)
    else poison.push(m)
  }
  if (poison.length) {
    await failurePathStep('dead-letter send', heartbeat, () => sendToDeadLetters(poison, 'malformed payment request'))
    metrics.deadLettered.inc(poison.length)
  }
  if (!events.length) return
  const started = Date.now()
  const outcomes = await settleWithRetries(events, heartbeat)
  metrics.settleSeconds.observe((Date.now() - started) / 1000)
  const requestIds = new Map(events.map((e) => [e.orderId, e.requestId]))
  for (const o of outcomes) {
    metrics.settled.inc({ status: o.status, reason: o.reason ?? '' })
    // The purchase's requestId, so one search finds the order's whole path through web and worker.
    log.info('order settled', { orderId: o.orderId, requestId: requestIds.get(o.orderId), status: o.status, reason: o.reason })
  }
  for (const e of events) metrics.settleLatency.observe((Date.now() - Date.parse(e.createdAt)) / 1000)
  // Pub/sub may drop these; order.get always has the truth.
  const published = await Promise.all(outcomes.map((o) => notifyShopper(redis(), o).catch(() => 0)))
  metrics.pubsubPublished.inc(published.reduce((a, b) => a + b, 0))
}

let consumerRunning = false
/** The chunk being settled now; a drain waits for it to be committed. */
let chunkInHand: Promise<unknown> = Promise.resolve()

// `flash-sale worker drain`: stop after the chunk in hand, stay in the group, resume when the flag goes.
const drain = watchDrain(redis(), `${hostname()}:${process.pid}`, {
  pause: async () => {
    // Before consumer.run() there is nothing to pause yet: runConsumer pauses once it runs.
    if (consumerRunning) consumer.pause([{ topic: topics.paymentRequests }])
    metrics.draining.set(1)
    log.info('worker drained by operator: consumption paused')
    await chunkInHand
  },
  resume: async () => {
    consumer.resume([{ topic: topics.paymentRequests }])
    metrics.draining.set(stopping ? 1 : 0)
    log.info('worker resumed by operator')
  },
}, (error) => log.warn('drain flag unreadable', { error }))

async function runConsumer() {
  await Promise.all([producer.connect(), consumer.connect(), admin.connect()])
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
        if (!isRunning() || isStale() || drain.draining) return
        const chunk = batch.messages.slice(i, i + size)
        const step = (async () => {
          await handleMessages(chunk, heartbeat)
          const last = chunk[chunk.length - 1]!
          resolveOffset(last.offset)
          // Committed only now: MySQL holds the outcome and the Redis follow-up is done.
          await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: String(Number(last.offset) + 1) }])
        })()
        chunkInHand = step.catch(() => {})
        await step
        await heartbeat()
      }
    },
  })
}

const RECONCILER_LEASE_MS = 10_000

async function runReconciler() {
  const lockKey = keys.lock('reconciler')
  const token = `${process.pid}-${randomUUID()}`
  const reconcile = new Reconciler({
    db: db(), redis: redis(), consuming: () => consuming && !drain.draining,
    barrier: new LoadBarrier(() => groupPositions(admin, topics.paymentRequests, PAYMENT_GROUP)),
    republish: async (events) => { await producer.send({ topic: topics.paymentRequests, acks: -1, messages: events.map((e) => ({ key: e.orderId, value: JSON.stringify(e) })) }) },
  })
  while (!stopping) {
    let renew: NodeJS.Timeout | undefined
    try {
      // One worker reconciles; it keeps the lease while it lives, and a dead holder's lease expires.
      const mine = (await redis().set(lockKey, token, 'PX', RECONCILER_LEASE_MS, 'NX')) === 'OK' || await leaseScript(redis(), lockKey, token, 'renew', RECONCILER_LEASE_MS)
      if (mine) {
        renew = setInterval(() => { leaseScript(redis(), lockKey, token, 'renew', RECONCILER_LEASE_MS).catch(() => {}) }, RECONCILER_LEASE_MS / 3)
        const done = await reconcile.pass()
        if (done.loaded || done.repaired || done.republished || done.finished || done.skipped) log.info('reconciled', done)
      }
    } catch (error) {
      log.warn('reconciler pass failed', { error })
    } finally {
      clearInterval(renew)
    }
    await sleepUnlessStopping(2_000)
  }
  await leaseScript(redis(), lockKey, token, 'release').catch(() => {})
}

let wake: (() => void) | undefined
/** A pause that SIGTERM cuts short. */
function sleepUnlessStopping(ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms)
    wake = () => { clearTimeout(timer); resolve() }
  })
}

const server = createServer(async (req, res) => {
  if (req.url === '/healthz') return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}')
  if (req.url === '/readyz') {
    if (stopping) return void res.writeHead(503, { 'content-type': 'application/json' }).end('{"ok":false,"stopping":true}')
    try {
      await Promise.all([db().selectNoFrom((eb) => eb.lit(1).as('one')).execute(), redis().ping(), admin.describeCluster()])
      return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: true, consuming }))
    } catch (error) {
      return void res.writeHead(503, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: false, error: String(error) }))
    }
  }
  if (req.url === '/metrics') {
    const { contentType, body } = await metricsText()
    return void res.writeHead(200, { 'content-type': contentType }).end(body)
  }
  res.writeHead(404).end()
})

let reconciler: Promise<void> | undefined
// The waiting rooms' admissions: a small loop of its own (under its own lease), ticking faster than the reconciler.
const admission = new AdmissionTicker({ db: db(), redis: redis() })

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
  wake?.()
  drain.stop()
  const started = Date.now()
  log.info('worker stopping', { signal })
  const force = setTimeout(() => {
    log.error('worker shutdown timed out; exiting', { timeoutMs: cfg.SHUTDOWN_TIMEOUT_MS })
    process.exit(1)
  }, cfg.SHUTDOWN_TIMEOUT_MS)
  force.unref()
  // consumer.disconnect() waits for eachBatch to return (it stops after the chunk in hand, committed).
  await consumer.disconnect().catch((error) => log.warn('consumer disconnect failed', { error }))
  await Promise.all([reconciler, admission.stop()])
  await Promise.all([producer.disconnect().catch(() => {}), admin.disconnect().catch(() => {})])
  await closeRedis()
  await closeDb()
  server.close()
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
server.listen(cfg.METRICS_PORT, cfg.METRICS_HOST, () => log.info('worker listening', { host: cfg.METRICS_HOST, port: cfg.METRICS_PORT }))
admission.start() // needs Redis and MySQL only: it does not wait for the consumer group
await runConsumer()
consumerRunning = true
if (drain.draining) consumer.pause([{ topic: topics.paymentRequests }])
log.info('worker joined consumer group', { group: PAYMENT_GROUP })
if (!stopping) reconciler = runReconciler()
