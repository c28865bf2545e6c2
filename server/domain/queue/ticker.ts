import { randomUUID } from 'node:crypto'
import type { DB } from '../../db'
import type { RedisClient } from '../../redis/client'
import { keys } from '../../redis/keys'
import { leaseScript, queueAdmitScript, queueMember, queueNextScript, queueRestoreScript } from '../../redis/scripts'
import { log } from '../../observability/log'
import { metrics } from '../../observability/metrics'
import { recordAdmissions, selectOpenRooms, selectPlacesAfter, type OpenRoom } from './records'

/** How often the rooms admit: each second's admissions are spread over its ticks. */
export const ADMISSION_TICK_MS = 250
const LEASE_MS = 5_000
const ROOMS_REFRESH_MS = 2_000
/** How often each room's records are compared with its line (and lost places put back). */
const RESTORE_EVERY_MS = 1_000
const RESTORE_CHUNK = 5_000
/** Records younger than this are compared again on the next pass (their commits may land out of id order). */
const SETTLE_MS = 5_000
/** A room's keys outlive its sale by a day. */
const KEEP_AFTER_SALE_MS = 86_400_000

export interface AdmissionTickerDeps {
  db: DB
  redis: RedisClient
  tickMs?: number
}

interface Place { userId: number, turn: number, score: string }

/**
 * The waiting rooms' admission, in the worker, under a lease so that one ticker admits at a time.
 * Every tick, per open room: first the room's records in MySQL are compared with its line in Redis
 * (a place Redis lost is put back at its old score; one the admissions already passed is admitted at
 * once), then the next places are proposed (at most admitPerSecond a second, never more than the
 * free units), recorded in MySQL, and granted in Redis if the room has not moved meanwhile.
 */
export class AdmissionTicker {
  private rooms: OpenRoom[] = []
  private roomsReadAt = 0
  private readonly restoredAt = new Map<number, number>()
  private readonly token = `${process.pid}-${randomUUID()}`
  private holding = false
  private stopping = false
  private loop: Promise<void> | undefined
  private wake: (() => void) | undefined

  constructor(private readonly deps: AdmissionTickerDeps) {}

  start(): void {
    this.loop ??= this.run()
  }

  async stop(): Promise<void> {
    this.stopping = true
    this.wake?.()
    await this.loop
  }

  private async run(): Promise<void> {
    const { redis } = this.deps
    const lockKey = keys.lock('queue-admission')
    let renewedAt = 0
    while (!this.stopping) {
      try {
        if (!this.holding || Date.now() - renewedAt > LEASE_MS / 3) {
          const held = (await redis.set(lockKey, this.token, 'PX', LEASE_MS, 'NX')) === 'OK' || await leaseScript(redis, lockKey, this.token, 'renew', LEASE_MS)
          renewedAt = Date.now()
          if (!held && this.holding) this.clearGauges()
          this.holding = held
        }
        if (this.holding) await this.tick()
      } catch (error) {
        log.warn('admission tick failed', { error })
      }
      await this.sleep(this.holding ? this.deps.tickMs ?? ADMISSION_TICK_MS : 1_000)
    }
    if (this.holding) await leaseScript(redis, lockKey, this.token, 'release').catch(() => {})
    this.clearGauges()
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms)
      this.wake = () => { clearTimeout(timer); resolve() }
    })
  }

  /** One pass over the open rooms; how many shoppers it admitted. */
  async tick(): Promise<number> {
    if (Date.now() - this.roomsReadAt > ROOMS_REFRESH_MS) {
      const before = this.rooms
      this.rooms = await selectOpenRooms(this.deps.db)
      this.roomsReadAt = Date.now()
      for (const gone of before.filter((r) => !this.rooms.some((o) => o.couponId === r.couponId))) this.clearGauges(gone.couponId)
    }
    const admitted = await Promise.all(this.rooms.map((room) => this.tickRoom(room).catch((error) => {
      log.warn('admission of a room failed', { couponId: room.couponId, error })
      return 0
    })))
    return admitted.reduce((a, b) => a + b, 0)
  }

  private async tickRoom(room: OpenRoom): Promise<number> {
    const { couponId } = room
    if (Date.now() - (this.restoredAt.get(couponId) ?? 0) >= RESTORE_EVERY_MS) {
      if (!await this.restore(room)) return 0 // admit only on a complete line: ranks are fixed then
      this.restoredAt.set(couponId, Date.now())
    }
    const proposal = await queueNextScript(this.deps.redis, couponId, room.admitPerSecond, room)
    const coupon = String(couponId)
    metrics.queueLength.set({ coupon }, Math.max(0, proposal.lineLength - proposal.admitted))
    metrics.queueFreeUnits.set({ coupon }, proposal.free ?? 0)
    metrics.queueAdmitting.set({ coupon }, proposal.free === null ? 0 : 1)
    metrics.queueAdmitted.inc({ coupon }, 0) // the series exists before the first admission (the stall alert reads it)
    if (!proposal.next.length) return 0
    return await this.grant(room, proposal.admitted, proposal.next, proposal.now)
  }

  /** Records the admissions in MySQL, then grants them in Redis unless the room moved; how many it granted. */
  private async grant(room: OpenRoom, from: number, places: Place[], now: number): Promise<number> {
    const until = now + room.admissionSeconds * 1000
    await recordAdmissions(this.deps.db, room.couponId, places, new Date(now), new Date(until))
    const granted = await queueAdmitScript(this.deps.redis, room.couponId, {
      from, to: from + places.length, admissionSeconds: room.admissionSeconds, second: Math.floor(now / 1000),
      expireAt: room.endsAt === null ? null : room.endsAt + KEEP_AFTER_SALE_MS, userIds: places.map((p) => p.userId),
    })
    if (granted === null) return 0
    metrics.queueAdmitted.inc({ coupon: String(room.couponId) }, places.length)
    return places.length
  }

  /**
   * Compares the room's records after the last verified one with its line: places Redis lost go back
   * at their old score, and shoppers whose restored place the admissions had passed are admitted now.
   * True when the line is complete (so admissions may go on).
   */
  private async restore(room: OpenRoom): Promise<boolean> {
    const { db, redis } = this.deps
    const { couponId } = room
    const line = keys.queueLine(couponId)
    let cursor = Number(await redis.hget(keys.queueMeta(couponId), 'verified') ?? 0)
    let settled = true // every record so far is old enough to be verified for good
    for (;;) {
      const rows = await selectPlacesAfter(db, couponId, cursor, RESTORE_CHUNK)
      if (!rows.length) return true
      const [scores, boundary] = await Promise.all([
        redis.zmscore(line, ...rows.map((r) => queueMember(r.userId, r.turn))),
        this.admittedBoundary(couponId),
      ])
      // Missing from the line, or placed before the admitted count (a hole not granted yet): the script decides.
      const doubtful = rows.filter((_, i) => scores[i] === null || Number(scores[i]) <= boundary)
      const settledBefore = Date.now() - SETTLE_MS
      const unsettled = settled ? rows.findIndex((r) => r.joinedAt.getTime() > settledBefore) : 0
      const verified = unsettled === 0 ? null : rows[(unsettled < 0 ? rows.length : unsettled) - 1]!.id
      if (unsettled >= 0) settled = false
      const result = await queueRestoreScript(redis, couponId, verified, doubtful.map((r) => ({ userId: r.userId, turn: r.turn, score: String(r.score) })))
      if (result.restored) {
        metrics.queueRestored.inc({ coupon: String(couponId) }, result.restored)
        log.warn('waiting-room places put back from their records', { couponId, restored: result.restored, holes: result.holes.length })
      }
      if (result.holes.length) {
        const owed = result.holes.map((userId) => doubtful.filter((r) => r.userId === userId).at(-1)!)
        await this.grant(room, result.admitted, owed.map((r) => ({ userId: r.userId, turn: r.turn, score: String(r.score) })), Date.now())
        return false // the next pass finds them admitted, moves `verified` on, and admissions go on
      }
      if (rows.length < RESTORE_CHUNK) return true
      cursor = rows[rows.length - 1]!.id
    }
  }

  /** The score of the last admitted place (-Infinity when none is admitted yet). */
  private async admittedBoundary(couponId: number): Promise<number> {
    const admitted = Number(await this.deps.redis.get(keys.queueAdmitted(couponId)) ?? 0)
    if (admitted <= 0) return -Infinity
    const [, score] = await this.deps.redis.zrange(keys.queueLine(couponId), admitted - 1, admitted - 1, 'WITHSCORES')
    return score === undefined ? Infinity : Number(score)
  }

  private clearGauges(couponId?: number): void {
    for (const gauge of [metrics.queueLength, metrics.queueFreeUnits, metrics.queueAdmitting]) {
      if (couponId === undefined) gauge.reset()
      else gauge.remove({ coupon: String(couponId) })
    }
  }
}
