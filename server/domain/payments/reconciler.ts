import type { Admin } from 'kafkajs'
import type { DB } from '../../db'
import type { PaymentRequest } from '../../kafka/client'
import type { RedisClient } from '../../redis/client'
import { keys } from '../../redis/keys'
import type { Reservation } from '../../redis/scripts'
import { selectAllCouponIds } from '../coupons/repository'
import { selectOrdersByIds } from '../orders/repository'
import { preloadStock, rebuildStock, stockIsLoaded } from '../stock/loader'
import { finishInRedis, notifyShopper, settledFromRow } from './followup'

export const RESERVED_TIMEOUT_MS = 10_000
export const CLAIMED_TIMEOUT_MS = 30_000

export interface ReconcilerDeps {
  db: DB
  redis: RedisClient
  admin: Admin
  topic: string
  groupId: string
  republish: (events: PaymentRequest[]) => Promise<void>
  /** False while the consumer waits out an outage: nothing is re-published then. */
  consuming: () => boolean
}

/** Whether every payment event written so far has been committed by the worker group. */
export async function kafkaDrained(admin: Admin, topic: string, groupId: string): Promise<boolean> {
  const [ends, committed] = await Promise.all([
    admin.fetchTopicOffsets(topic),
    admin.fetchOffsets({ groupId, topics: [topic] }),
  ])
  const done = new Map((committed[0]?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]))
  return ends.every((p) => {
    const end = Number(p.high)
    const at = done.get(p.partition) ?? -1
    return end === 0 || at >= end || (at < 0 && Number(p.low) >= end)
  })
}

const backoff = new Map<string, { next: number, delay: number }>()

/**
 * One pass of the reconciler (DESIGN.md): rebuild Redis after a data loss once Kafka is drained, load
 * stock for sales opening soon, re-publish reservations nobody settled, and finish the Redis follow-up
 * of settled orders whose worker died before doing it. Returns what it did, for logs and tests.
 */
export async function reconcileOnce(deps: ReconcilerDeps, now = Date.now()) {
  const done = { rebuilt: false, republished: 0, finished: 0 }
  if (!(await stockIsLoaded(deps.redis))) {
    if (deps.consuming() && await kafkaDrained(deps.admin, deps.topic, deps.groupId)) {
      await rebuildStock(deps.redis, deps.db)
      done.rebuilt = true
    }
    return done
  }
  await preloadStock(deps.redis, deps.db)

  const toRepublish: PaymentRequest[] = []
  const toCheck: { orderId: string, couponId: number, entry: Reservation }[] = []
  for (const couponId of await selectAllCouponIds(deps.db)) {
    const entries = await deps.redis.hgetall(keys.pending(couponId))
    for (const [orderId, raw] of Object.entries(entries)) {
      const entry = JSON.parse(raw) as Reservation
      const stale = entry.state === 'reserved' ? now - entry.at > RESERVED_TIMEOUT_MS : now - (entry.claimedAt ?? entry.at) > CLAIMED_TIMEOUT_MS
      if (!stale) continue
      if (entry.state === 'claimed') toCheck.push({ orderId, couponId, entry })
      else toRepublish.push(eventOf(orderId, couponId, entry))
    }
  }

  if (toCheck.length) {
    const settled = new Map((await selectOrdersByIds(deps.db, toCheck.map((c) => c.orderId))).map((r) => [r.id, r]))
    for (const c of toCheck) {
      const row = settled.get(c.orderId)
      if (!row) {
        toRepublish.push(eventOf(c.orderId, c.couponId, c.entry))
        continue
      }
      const order = settledFromRow(row)
      await finishInRedis(deps.redis, order)
      await notifyShopper(deps.redis, order)
      done.finished++
    }
  }

  const due = toRepublish.filter((e) => (backoff.get(e.orderId)?.next ?? 0) <= now)
  if (due.length && deps.consuming()) {
    await deps.republish(due)
    for (const e of due) {
      const delay = Math.min((backoff.get(e.orderId)?.delay ?? 5_000) * 2, 60_000)
      backoff.set(e.orderId, { next: now + delay, delay })
    }
    done.republished = due.length
  }
  for (const [orderId, b] of backoff) if (b.next < now - 120_000) backoff.delete(orderId)
  return done
}

function eventOf(orderId: string, couponId: number, entry: Reservation): PaymentRequest {
  return {
    v: 1, orderId, couponId, userId: entry.userId, price: entry.price, serverId: entry.serverId,
    requestId: entry.requestId ?? '', createdAt: new Date(entry.at).toISOString(),
  }
}
