import type { DB } from '../../db'
import type { PaymentRequest } from '../../kafka/client'
import type { RedisClient } from '../../redis/client'
import { snapshotScript, type CouponSnapshot, type Reservation } from '../../redis/scripts'
import { selectAllCouponIds, selectCouponsOnSale, selectRecentCouponIds } from '../coupons/repository'
import { selectOrdersByIds } from '../orders/repository'
import type { LoadBarrier } from '../stock/barrier'
import { balanceOf, compareBuyers, inBalance, repairCoupon } from '../stock/repair'
import { log } from '../../observability/log'
import { metrics } from '../../observability/metrics'
import { finishInRedis, notifyShoppers, settledFromRow } from './followup'
import type { RepublishGate } from './republish-gate'

export const RESERVED_TIMEOUT_MS = 10_000
export const CLAIMED_TIMEOUT_MS = 30_000
/** Coupons whose sale opens within this are loaded ahead of time. */
const PRELOAD_MS = 10 * 60_000
/**
 * A pass looks at the coupons whose sale has not ended or ended less than this ago: no reservation is
 * made once a sale ends, so an older sale still holding a pending entry means the workers were all
 * down for longer than this, and the full sweep finds it.
 */
const ENDED_WATCH_MS = 10 * 60_000
/** Events re-published in one pass at most (the oldest first): the rest go at the next passes. */
export const REPUBLISH_PER_PASS = 10_000

export interface ReconcilerDeps {
  db: DB
  redis: RedisClient
  /** Guards the load of a coupon Redis lost until its in-flight events are settled. */
  barrier: LoadBarrier
  /** Holds back stale entries whose events may still be waiting in Kafka. */
  gate: RepublishGate
  republish: (events: PaymentRequest[]) => Promise<void>
  /** False while the consumer waits out an outage: nothing is re-published then. */
  consuming: () => boolean
  /** Every how many passes the buyer sets themselves are compared (default 15: every ~30 s). */
  setCheckEvery?: number
  /** Every how many passes every coupon is read, however long ago its sale ended (default 30: about once a minute, and the first). */
  fullSweepEvery?: number
}

interface Stale { orderId: string, couponId: number, entry: Reservation }

/**
 * The reconciler (docs/architecture.md, "Failure handling and repair"): every pass, per coupon, with ages on Redis' clock,
 * re-publishes reservations nobody settled, finishes the follow-up of settled ones, loads coupons
 * Redis lost (behind the Kafka barrier) and repairs coupons whose Redis state drifted from MySQL.
 */
export class Reconciler {
  private readonly backoff = new Map<string, { next: number, delay: number }>()
  private readonly drift = new Map<number, string>()
  private readonly setDrift = new Map<number, string>()
  private readonly reported = new Set<string>()
  private passes = 0

  constructor(private readonly deps: ReconcilerDeps) {}

  /** One pass; returns what it did, for logs and tests. */
  async pass() {
    const { db, redis } = this.deps
    const done = { loaded: 0, repaired: 0, republished: 0, held: 0, finished: 0, skipped: 0, waiting: 0 }
    const onSale = new Set((await selectCouponsOnSale(db, PRELOAD_MS)).map((c) => Number(c.id)))
    // every coupon ever sold would make each pass grow with the shop's history: the full sweep reads
    // them now and then, every other pass only those whose sale is open, to come or recently ended
    const sweep = this.passes % (this.deps.fullSweepEvery ?? 30) === 0
    const ids = sweep ? await selectAllCouponIds(db) : await selectRecentCouponIds(db, ENDED_WATCH_MS)
    const snapshots = await Promise.all(ids.map(async (id) => [id, await snapshotScript(redis, id)] as const))

    const stale: Stale[] = []
    for (const [couponId, snap] of snapshots) {
      for (const [orderId, entry] of snap.entries) {
        if (typeof entry === 'string') {
          done.skipped++
          this.reportUnparsable(couponId, orderId, entry)
          continue
        }
        if (isStale(entry, snap.now)) stale.push({ orderId, couponId, entry })
      }
    }
    Object.assign(done, await this.settleStale(stale, snapshots[0]?.[1].now))

    const loaded = snapshots.filter(([id, s]) => onSale.has(id) && s.loaded)
    for (const [id, s] of snapshots) {
      if (s.loaded) {
        this.deps.barrier.done(id) // loaded by someone else (an admin edit, another worker): a later loss starts a new wait
        continue
      }
      if (!onSale.has(id)) continue
      const ready = await this.deps.barrier.ready(id, s.now).catch((error) => {
        log.warn('load barrier cannot read Kafka offsets; the coupon waits', { couponId: id, error })
        return false
      })
      if (!ready) {
        done.waiting++
        continue
      }
      if ((await this.repair(id, 'load')).status === 'repaired') done.loaded++
    }
    done.repaired = await this.repairDrift(loaded)
    if (++this.passes % (this.deps.setCheckEvery ?? 15) === 0) done.repaired += await this.compareSets(loaded.map(([id]) => id))
    return done
  }

  /**
   * Stale entries: settled in MySQL → their follow-up; not settled → re-published (with backoff) once
   * the workers have consumed what Kafka held when they went stale (the gate), REPUBLISH_PER_PASS at most.
   */
  private async settleStale(stale: Stale[], redisNow = Date.now()) {
    const { db, redis } = this.deps
    if (!stale.length) return { finished: 0, republished: 0, held: 0 }
    // the positions before MySQL: an event consumed in between is found settled there. Kafka out of
    // reach: nothing is re-published this pass, the settled ones still get their follow-up.
    const consumed = this.deps.consuming()
      ? await this.deps.gate.check(redisNow).catch((error) => {
        log.warn('reconciler cannot read the group\'s offsets; nothing re-published this pass', { error })
        return () => false
      })
      : () => false
    const settled = new Map((await selectOrdersByIds(db, stale.map((s) => s.orderId))).map((r) => [r.id, settledFromRow(r)]))
    const orders = [...settled.values()]
    await finishInRedis(redis, orders)
    await notifyShoppers(redis, orders).catch(() => 0)

    const now = Date.now() // backoff is this process's own bookkeeping: its clock is fine here
    const unsettled = stale.filter((s) => !settled.has(s.orderId))
    const ready = unsettled.filter((s) => consumed(s.entry.at))
    const due = ready
      .filter((s) => (this.backoff.get(s.orderId)?.next ?? 0) <= now)
      .sort((a, b) => a.entry.at - b.entry.at)
      .slice(0, REPUBLISH_PER_PASS)
    let republished = 0
    if (due.length && this.deps.consuming()) {
      await this.deps.republish(due.map(eventOf))
      for (const s of due) {
        const delay = Math.min((this.backoff.get(s.orderId)?.delay ?? 2_500) * 2, 60_000)
        this.backoff.set(s.orderId, { next: now + delay, delay })
      }
      republished = due.length
    }
    for (const [orderId, b] of this.backoff) if (b.next < now - 120_000) this.backoff.delete(orderId)
    return { finished: orders.length, republished, held: unsettled.length - ready.length }
  }

  /** The same discrepancy seen in two passes in a row is repaired (a single sighting may be in flight). */
  private async repairDrift(snapshots: (readonly [number, CouponSnapshot])[]): Promise<number> {
    let repaired = 0
    for (const check of await balanceOf(this.deps.db, snapshots)) {
      if (inBalance(check)) {
        this.drift.delete(check.couponId)
        continue
      }
      const signature = `${check.stockDrift}:${check.buyersDrift}`
      if (this.drift.get(check.couponId) !== signature) {
        this.drift.set(check.couponId, signature)
        continue
      }
      this.drift.delete(check.couponId)
      log.warn('coupon drifted from MySQL; repairing', { ...check, unparsable: check.unparsable.length })
      if ((await this.repair(check.couponId, 'drift')).status === 'repaired') repaired++
    }
    return repaired
  }

  /** Buyer sets whose members differ (counts equal) the same way on two slow checks in a row are repaired. */
  private async compareSets(couponIds: number[]): Promise<number> {
    let repaired = 0
    for (const couponId of couponIds) {
      if (this.drift.has(couponId)) continue // a count discrepancy is being watched already
      const { missing, extra } = await compareBuyers(this.deps.db, this.deps.redis, couponId)
      if (!missing.length && !extra.length) {
        this.setDrift.delete(couponId)
        continue
      }
      const signature = `${missing.join(',')}|${extra.join(',')}`
      if (this.setDrift.get(couponId) !== signature) {
        this.setDrift.set(couponId, signature)
        continue
      }
      this.setDrift.delete(couponId)
      log.warn('coupon buyer set differs from MySQL; repairing', { couponId, missing: missing.length, extra: extra.length })
      if ((await this.repair(couponId, 'drift')).status === 'repaired') repaired++
    }
    return repaired
  }

  private async repair(couponId: number, cause: 'load' | 'drift') {
    const result = await repairCoupon(this.deps.db, this.deps.redis, couponId)
    if (result.status === 'repaired') {
      this.deps.barrier.done(couponId)
      metrics.stockRepairs.inc({ cause })
      log.info(cause === 'load' ? 'coupon loaded into Redis' : 'coupon repaired', { couponId, ...result })
    }
    return result
  }

  private reportUnparsable(couponId: number, orderId: string, raw: string): void {
    metrics.unparsableEntries.inc()
    if (this.reported.has(orderId)) return
    if (this.reported.size > 10_000) this.reported.clear()
    this.reported.add(orderId)
    log.error('pending entry cannot be parsed; skipped', { couponId, orderId, raw: raw.slice(0, 200) })
  }
}

function isStale(entry: Reservation, now: number): boolean {
  return entry.state === 'reserved' ? now - entry.at > RESERVED_TIMEOUT_MS : now - (entry.claimedAt ?? entry.at) > CLAIMED_TIMEOUT_MS
}

function eventOf({ orderId, couponId, entry }: Stale): PaymentRequest {
  return {
    v: 1, orderId, couponId, userId: entry.userId, price: entry.price, serverId: entry.serverId,
    requestId: entry.requestId ?? '', createdAt: new Date(entry.at).toISOString(),
  }
}
