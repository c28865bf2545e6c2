import { setTimeout as sleep } from 'node:timers/promises'
import type { KafkaMessage } from 'kafkajs'
import { db } from '../db'
import { fencedBy, topics, type PaymentRequest, type Sender } from '../kafka/client'
import { redis } from '../redis/client'
import { failpoint } from '../domain/failpoints'
import { finishInRedis, notifyShoppers, type SettledOrder } from '../domain/payments/followup'
import { isTransient, parsePaymentRequest } from '../domain/payments/events'
import { recordFailure, settleBatch } from '../domain/payments/settle'
import { log } from '../observability/log'
import { metrics } from '../observability/metrics'

type Heartbeat = () => Promise<void>

/**
 * Settles the payment events of one chunk of a partition: MySQL first, then the Redis follow-up, then
 * the shoppers are told. An outage pauses consumption until it is over (`consuming` is false meanwhile,
 * and the reconciler re-publishes nothing); an event that keeps failing for another reason is
 * dead-lettered and its order FAILED / PAYMENT_ERROR (released).
 */
export class Settlement {
  /** False while a dependency is out and settlement waits for it. */
  consuming = true
  private stopping = false

  constructor(private readonly producer: Sender) {}

  /** Outages are no longer waited out: the chunk in hand fails and is delivered again after a restart. */
  stop(): void {
    this.stopping = true
  }

  async handle(messages: KafkaMessage[], heartbeat: Heartbeat): Promise<void> {
    const events: PaymentRequest[] = []
    const poison: KafkaMessage[] = []
    for (const m of messages) {
      const event = parsePaymentRequest(m.value)
      if (event) events.push(event)
      else poison.push(m)
    }
    if (poison.length) {
      await this.failurePathStep('dead-letter send', heartbeat, () => this.sendToDeadLetters(poison, 'malformed payment request'))
      metrics.deadLettered.inc(poison.length)
    }
    if (!events.length) return
    const started = Date.now()
    metrics.settleBatchSize.observe(events.length)
    const outcomes = await this.settleWithRetries(events, heartbeat)
    metrics.settleSeconds.observe((Date.now() - started) / 1000)
    const requestIds = new Map(events.map((e) => [e.orderId, e.requestId]))
    for (const o of outcomes) {
      metrics.settled.inc({ status: o.status, reason: o.reason ?? '' })
      // The purchase's requestId, so one search finds the order's whole path through web and worker.
      log.info('order settled', { orderId: o.orderId, requestId: requestIds.get(o.orderId), status: o.status, reason: o.reason })
    }
    for (const e of events) metrics.settleLatency.observe((Date.now() - Date.parse(e.createdAt)) / 1000)
    // Pub/sub may drop these; order.get always has the truth.
    metrics.pubsubPublished.inc(await notifyShoppers(redis(), outcomes).catch(() => 0))
  }

  private async sendToDeadLetters(messages: Pick<KafkaMessage, 'key' | 'value' | 'headers'>[], why: string) {
    await failpoint('worker.dead-letter')
    await this.producer.send({
      topic: topics.deadLetters,
      messages: messages.map((m) => ({ key: m.key, value: m.value, headers: { ...m.headers, error: why } })),
    })
  }

  /**
   * Pauses consumption while an outage lasts, staying in the group meanwhile. Once the group has
   * moved on without this member (the heartbeat says so), the chunk is given up: its partition
   * belongs to another member, which settles it again, and Kafka's error makes kafkajs rejoin.
   */
  private async waitOutOutage(error: unknown, attempt: number, heartbeat: Heartbeat, what: string) {
    this.consuming = false
    metrics.workerPaused.set(1)
    log.warn(`${what} paused: dependency unavailable`, { error, attempt })
    await sleep(Math.min(200 * 2 ** Math.min(attempt, 5), 5_000))
    await heartbeat().catch((refusal: unknown) => {
      const fenced = fencedBy(refusal)
      if (!fenced) return // Kafka itself unreachable: the next heartbeat tells
      log.warn(`${what} given up: this member was fenced while waiting`, { error: fenced.message })
      throw fenced
    })
  }

  private resumed(): void {
    this.consuming = true
    metrics.workerPaused.set(0)
  }

  /**
   * A step of the failure path (recording the failed order, the dead-letter send, its follow-up), retried
   * with backoff: through an outage for as long as it lasts, otherwise a few times, then reported and
   * skipped — so the failure path can neither escape nor wedge the partition.
   */
  private async failurePathStep(step: string, heartbeat: Heartbeat, work: () => Promise<unknown>): Promise<void> {
    for (let attempt = 0, failures = 0; ; attempt++) {
      try {
        await work()
        if (!this.consuming) this.resumed()
        return
      } catch (error) {
        if (this.stopping || fencedBy(error)) throw error
        if (isTransient(error)) {
          await this.waitOutOutage(error, attempt, heartbeat, step)
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
  private async settleWithRetries(events: PaymentRequest[], heartbeat: Heartbeat): Promise<SettledOrder[]> {
    let failures = 0
    for (let attempt = 0; ; attempt++) {
      try {
        await failpoint('worker.before-settle')
        const outcomes = await settleBatch(db(), redis(), events)
        await failpoint('worker.after-commit')
        await finishInRedis(redis(), outcomes)
        this.consuming = true
        return outcomes
      } catch (error) {
        if (this.stopping || fencedBy(error)) throw error
        if (isTransient(error)) {
          await this.waitOutOutage(error, attempt, heartbeat, 'settlement')
          continue
        }
        failures++
        log.error('settlement failed', { error, events: events.length, failures })
        if (failures < 3) {
          await sleep(100 * failures)
          continue
        }
        if (events.length === 1) return [await this.parkPoison(events[0]!, error, heartbeat)]
        const outcomes: SettledOrder[] = []
        for (const event of events) outcomes.push(...await this.settleWithRetries([event], heartbeat))
        return outcomes
      } finally {
        metrics.workerPaused.set(this.consuming ? 0 : 1)
      }
    }
  }

  /** An event that keeps failing for a reason other than an outage: dead-lettered, its order FAILED and released. */
  private async parkPoison(event: PaymentRequest, error: unknown, heartbeat: Heartbeat): Promise<SettledOrder> {
    let order: SettledOrder = {
      orderId: event.orderId,
      userId: event.userId,
      couponId: event.couponId,
      status: 'FAILED',
      reason: 'PAYMENT_ERROR',
    }
    await this.failurePathStep('record failed order', heartbeat, async () => {
      order = (await recordFailure(db(), event, 'PAYMENT_ERROR')).order
    })
    await this.failurePathStep('dead-letter send', heartbeat, () =>
      this.sendToDeadLetters([{ key: Buffer.from(event.orderId), value: Buffer.from(JSON.stringify(event)) }], String(error)),
    )
    await this.failurePathStep('release', heartbeat, () => finishInRedis(redis(), [order]))
    metrics.deadLettered.inc()
    return order
  }
}
