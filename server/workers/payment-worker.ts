/**
 * The payment worker: consumes payment-requests in the payment-workers group, settles each batch in
 * MySQL, finishes the Redis side, commits offsets only after that, and tells shoppers. Its reconciler
 * runs in the same process. Start: `node .output/worker/index.mjs`.
 */
import { createServer } from 'node:http'
import type { KafkaMessage } from 'kafkajs'
import { config } from '../config'
import { closeDb, db } from '../db'
import { createProducer, kafka, PAYMENT_GROUP, topics, type PaymentRequest } from '../kafka/client'
import { closeRedis, redis } from '../redis/client'
import { keys } from '../redis/keys'
import { finishInRedis, notifyShopper, type SettledOrder } from '../domain/payments/followup'
import { isTransient, parsePaymentRequest } from '../domain/payments/events'
import { failOrder, settleBatch } from '../domain/payments/settle'
import { reconcileOnce } from '../domain/payments/reconciler'
import { failpoint } from '../domain/failpoints'
import { consumerLag } from '../observability/kafka-lag'
import { log, setLogContext } from '../observability/log'
import { metrics, metricsText, trackConsumerLag } from '../observability/metrics'

const cfg = config()
const producer = createProducer()
const consumer = kafka().consumer({ groupId: PAYMENT_GROUP, sessionTimeout: 10_000, heartbeatInterval: 3_000, maxWaitTimeInMs: 50 })
const admin = kafka().admin()
let consuming = true
let stopping = false
setLogContext({ service: 'worker', pid: process.pid })
trackConsumerLag(() => consumerLag(admin, topics.paymentRequests, PAYMENT_GROUP))

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function sendToDeadLetters(messages: Pick<KafkaMessage, 'key' | 'value' | 'headers'>[], why: string) {
  await failpoint('worker.dead-letter')
  await producer.send({ topic: topics.deadLetters, messages: messages.map((m) => ({ key: m.key, value: m.value, headers: { ...m.headers, error: why } })) })
}

async function afterCommit(outcomes: SettledOrder[]) {
  await Promise.all(outcomes.map((o) => finishInRedis(redis(), o)))
}

/** Settles events, waiting out outages (consumption pauses) and isolating events that keep failing. */
async function settleWithRetries(events: PaymentRequest[], heartbeat: () => Promise<void>): Promise<SettledOrder[]> {
  let failures = 0
  for (let attempt = 0; ; attempt++) {
    try {
      const outcomes = await settleBatch(db(), redis(), events)
      await failpoint('worker.after-commit')
      await afterCommit(outcomes)
      consuming = true
      return outcomes
    } catch (error) {
      if (stopping) throw error
      if (isTransient(error)) {
        consuming = false
        metrics.workerPaused.set(1)
        log.warn('settlement paused: dependency unavailable', { error: String(error), attempt })
        await sleep(Math.min(200 * 2 ** Math.min(attempt, 5), 5_000))
        await heartbeat().catch(() => {})
        continue
      }
      failures++
      log.error('settlement failed', { error: String(error), events: events.length, failures })
      if (failures < 3) {
        await sleep(100 * failures)
        continue
      }
      if (events.length === 1) {
        // A poison event: park it, fail its order without a charge and give the unit back.
        const order = await failOrder(db(), events[0]!, 'PAYMENT_ERROR')
        await sendToDeadLetters([{ key: Buffer.from(events[0]!.orderId), value: Buffer.from(JSON.stringify(events[0])) }], String(error))
        await afterCommit([order])
        metrics.deadLettered.inc()
        return [order]
      }
      const outcomes: SettledOrder[] = []
      for (const event of events) outcomes.push(...await settleWithRetries([event], heartbeat))
      return outcomes
    } finally {
      metrics.workerPaused.set(consuming ? 0 : 1)
    }
  }
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
    await sendToDeadLetters(poison, 'malformed payment request')
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

async function runConsumer() {
  await Promise.all([producer.connect(), consumer.connect(), admin.connect()])
  await consumer.subscribe({ topic: topics.paymentRequests, fromBeginning: true })
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
      const size = cfg.SETTLE_BATCH_SIZE
      for (let i = 0; i < batch.messages.length; i += size) {
        if (!isRunning() || isStale()) return
        const chunk = batch.messages.slice(i, i + size)
        await handleMessages(chunk, heartbeat)
        const last = chunk[chunk.length - 1]!
        resolveOffset(last.offset)
        // Committed only now: MySQL holds the outcome and the Redis follow-up is done.
        await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: String(Number(last.offset) + 1) }])
        await heartbeat()
      }
    },
  })
}

async function runReconciler() {
  const lockKey = keys.lock('reconciler')
  while (!stopping) {
    try {
      // One worker reconciles per round; the lock expires by itself if that worker dies.
      if (await redis().set(lockKey, process.pid.toString(), 'PX', 5_000, 'NX')) {
        const done = await reconcileOnce({
          db: db(), redis: redis(), admin, topic: topics.paymentRequests, groupId: PAYMENT_GROUP,
          consuming: () => consuming,
          republish: async (events) => { await producer.send({ topic: topics.paymentRequests, acks: -1, messages: events.map((e) => ({ key: e.orderId, value: JSON.stringify(e) })) }) },
        })
        if (done.rebuilt || done.republished || done.finished) log.info('reconciled', done)
      }
    } catch (error) {
      log.warn('reconciler pass failed', { error: String(error) })
    }
    await sleepUnlessStopping(2_000)
  }
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
  const started = Date.now()
  log.info('worker stopping', { signal })
  const force = setTimeout(() => {
    log.error('worker shutdown timed out; exiting', { timeoutMs: cfg.SHUTDOWN_TIMEOUT_MS })
    process.exit(1)
  }, cfg.SHUTDOWN_TIMEOUT_MS)
  force.unref()
  // consumer.disconnect() waits for eachBatch to return (it stops after the chunk in hand, committed).
  await consumer.disconnect().catch((error) => log.warn('consumer disconnect failed', { error: String(error) }))
  await reconciler
  await Promise.all([producer.disconnect().catch(() => {}), admin.disconnect().catch(() => {})])
  await closeRedis()
  await closeDb()
  server.close()
  log.info('worker stopped', { signal, ms: Date.now() - started })
  process.exit(0)
}
process.on('SIGTERM', () => void shutdown('SIGTERM'))
process.on('SIGINT', () => void shutdown('SIGINT'))

server.listen(cfg.METRICS_PORT, cfg.METRICS_HOST, () => log.info('worker listening', { host: cfg.METRICS_HOST, port: cfg.METRICS_PORT }))
await runConsumer()
log.info('worker joined consumer group', { group: PAYMENT_GROUP })
if (!stopping) reconciler = runReconciler()
