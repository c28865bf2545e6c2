import { LRUCache } from 'lru-cache'
import type { RedisClient } from '../../redis/client'
import { queueEntryScript, queueViewScript, type QueueView } from '../../redis/scripts'
import type { Coupon } from '../coupons/schemas'
import type { QueueStatus } from './schemas'
import { queueStatus, sameStatus, type Place, type RoomSettings } from './status'

/** How often an instance reads each watched room's counters: SOLD_OUT reaches every waiting shopper within a second. */
export const QUEUE_TICK_MS = 500
/** Position-only changes (ahead, ETA) are pushed at most this often to one subscriber. */
const POSITION_PUSH_MS = 1_000
/** A "not joined" place (or an admission that ended) is read again after this: the shopper may join through another instance. */
const NOT_JOINED_TTL_MS = 5_000
/** A purchase is refused NOT_ADMITTED here only from counters at most this old (fresher ones are read meanwhile). */
const KNOWN_VIEW_MS = 1_000
/** Added to a view's age when bounding what the room can have admitted since: the read's own time, clock ticks. */
const VIEW_AGE_MARGIN_MS = 250
/**
 * Places one instance reads per room per tick at most. At the opening every waiting shopper's place
 * must be read once: spread over ticks, a room's master sees a bounded rate (10,000 subscribers of
 * one instance get their places within 20 s), and the shoppers the admissions reached go first.
 */
export const PLACE_READS_PER_TICK = 250

interface CachedPlace extends Place {
  turn: number
  /** When it was read (this process's clock) and under which room epoch (null: not known then). */
  readAt: number
  epoch: string | null
}

interface SeenView { view: QueueView, readAt: number }

export type QueueListener = (status: QueueStatus) => void
interface Watcher { couponId: number, userId: number, listener: QueueListener, last?: QueueStatus, pushedAt: number }

export interface QueueFeedDeps {
  redis: () => RedisClient
  coupon: (couponId: number) => Promise<Coupon | null>
  tickMs?: number
}

/**
 * Waiting-room statuses of one web instance. Each room's counters are read once a tick for all of
 * the instance's shoppers (one call per room, however many wait); each shopper's place is read once
 * and kept, since it is fixed from the opening on, and read again only when it may have changed (the
 * opening passed, the admissions reached it, places were put back after a Redis loss, or it was not
 * joined). Statuses are then computed locally and pushed to subscribers when they change.
 */
export class QueueFeed {
  private readonly views = new Map<number, SeenView>()
  /** Each room's settings as last seen with its counters (a purchase's refusal reads them without the coupon). */
  private readonly rooms = new Map<number, RoomSettings>()
  private readonly viewReads = new Map<number, Promise<SeenView>>()
  private readonly places = new LRUCache<string, CachedPlace>({ max: 200_000 })
  private readonly watchers = new Map<number, Set<Watcher>>()
  private timer: ReturnType<typeof setInterval> | undefined
  private ticking = false
  private readonly tickMs: number

  constructor(private readonly deps: QueueFeedDeps) {
    this.tickMs = deps.tickMs ?? QUEUE_TICK_MS
  }

  get subscriberCount(): number {
    let n = 0
    for (const set of this.watchers.values()) n += set.size
    return n
  }

  /** One shopper's status now (queue.status, queue.join). */
  async status(couponId: number, userId: number): Promise<QueueStatus> {
    const coupon = await this.deps.coupon(couponId)
    if (!coupon?.waitingRoom?.enabled) return { state: 'CLOSED' }
    const { view, readAt } = await this.view(couponId, Date.now() - this.tickMs)
    const settings = settingsOf(coupon)
    this.rooms.set(couponId, settings)
    const now = redisNow(view, readAt)
    const key = placeKey(couponId, userId)
    let place = this.places.get(key)
    if (!place || stale(place, settings, view, now)) place = await this.readPlace(couponId, userId, settings, view.epoch)
    return queueStatus(settings, view, place, redisNow(view, readAt))
  }

  /** After a join on this instance: its place is known without a read. */
  remember(couponId: number, userId: number, place: Place & { turn: number }): void {
    const epoch = this.views.get(couponId)?.view.epoch ?? null
    this.places.set(placeKey(couponId, userId), { ...place, readAt: Date.now(), epoch })
  }

  /**
   * Subscribes a shopper to their status: the current one at once, then each change (position-only
   * changes at most once a second). Returns the function that unsubscribes.
   */
  async watch(couponId: number, userId: number, listener: QueueListener): Promise<() => void> {
    const watcher: Watcher = { couponId, userId, listener, pushedAt: 0 }
    // A new subscription reads the place once (the shopper may have just joined through another instance).
    this.places.delete(placeKey(couponId, userId))
    const first = await this.status(couponId, userId)
    watcher.last = first
    watcher.pushedAt = Date.now()
    listener(first)
    let set = this.watchers.get(couponId)
    if (!set) this.watchers.set(couponId, (set = new Set()))
    set.add(watcher)
    this.timer ??= setInterval(() => void this.tick(), this.tickMs)
    this.timer.unref?.()
    return () => this.unwatch(watcher)
  }

  private unwatch(watcher: Watcher): void {
    const set = this.watchers.get(watcher.couponId)
    if (!set?.delete(watcher) || set.size) return
    this.watchers.delete(watcher.couponId)
    if (!this.watchers.size && this.timer) {
      clearInterval(this.timer)
      this.timer = undefined
    }
  }

  /**
   * Whether the shopper certainly has no admission now, from what this instance has read: a place in
   * the line (fixed since the opening) beyond every place the room can have admitted since its
   * counters were read — at most admitPerSecond in each second of Redis' clock — on a room that is not sold
   * out, from counters at most KNOWN_VIEW_MS old. False when it does not know (counters too old are
   * read again meanwhile, for the next purchase).
   */
  notAdmitted(couponId: number, userId: number): boolean {
    const seen = this.views.get(couponId)
    const room = this.rooms.get(couponId)?.room
    if (!seen || !room?.enabled) return false
    const age = Date.now() - seen.readAt
    if (age > KNOWN_VIEW_MS) {
      this.view(couponId, Date.now() - this.tickMs).catch(() => {})
      return false
    }
    const { view } = seen
    if (view.stock !== null && view.stock <= 0 && view.pending === 0) return false // sold out: the gate says so
    const place = this.places.get(placeKey(couponId, userId))
    if (!place?.joined || place.position === null || place.admittedUntil !== null || place.epoch !== view.epoch) return false
    // the ticker admits at most admitPerSecond in each second of Redis' clock: a span touches at most
    // ⌈its length⌉ + 1 of them
    const seconds = Math.ceil((age + VIEW_AGE_MARGIN_MS) / 1000) + 1
    return place.position > view.admitted + room.admitPerSecond * seconds
  }

  /**
   * After the gate refused a shopper NOT_ADMITTED: reads their place (and the room's counters, if old)
   * once, so that their next attempts are answered from notAdmitted().
   */
  async learnPlace(coupon: Coupon, userId: number): Promise<void> {
    const settings = settingsOf(coupon)
    const { view, readAt } = await this.view(coupon.id, Date.now() - this.tickMs)
    this.rooms.set(coupon.id, settings)
    const place = this.places.get(placeKey(coupon.id, userId))
    if (!place || stale(place, settings, view, redisNow(view, readAt))) await this.readPlace(coupon.id, userId, settings, view.epoch)
  }

  /** A reservation on this instance took a unit of the room: its counters are read afresh next time. */
  stockMoved(couponId: number): void {
    this.views.delete(couponId)
  }

  /** Forgets every place read (Redis reconnected: it may have lost writes, so ranks may differ). */
  forgetPlaces(): void {
    this.places.clear()
  }

  /** One read per watched room, then every subscriber's status computed here; pushes what changed. */
  async tick(): Promise<void> {
    if (this.ticking || !this.watchers.size) return
    this.ticking = true
    try {
      await Promise.all([...this.watchers.keys()].map((couponId) => this.tickRoom(couponId).catch(() => {
        // Redis unavailable: subscribers keep their last status; the next tick tries again.
      })))
    } finally {
      this.ticking = false
    }
  }

  private async tickRoom(couponId: number): Promise<void> {
    const [coupon, { view, readAt }] = await Promise.all([this.deps.coupon(couponId), this.view(couponId, Date.now() - this.tickMs / 2)])
    const watchers = this.watchers.get(couponId)
    if (!watchers) return
    const settings = settingsOf(coupon)
    this.rooms.set(couponId, settings)
    const now = redisNow(view, readAt)
    const due: { userId: number, urgent: boolean }[] = []
    for (const w of watchers) {
      const place = this.places.get(placeKey(couponId, w.userId))
      if (settings.room?.enabled && (!place || stale(place, settings, view, now))) {
        due.push({ userId: w.userId, urgent: !!place?.position && place.position <= view.admitted })
      }
    }
    // the shoppers whose place may have changed, pipelined together; those just admitted first
    const reads =
      due.length > PLACE_READS_PER_TICK
        ? [...due.filter((d) => d.urgent), ...due.filter((d) => !d.urgent)].slice(0, PLACE_READS_PER_TICK)
        : due
    await Promise.all(
      [...new Set(reads.map((d) => d.userId))].map((userId) => this.readPlace(couponId, userId, settings, view.epoch).catch(() => {})),
    )
    const local = Date.now()
    for (const w of watchers) {
      const status = queueStatus(settings, view, this.places.get(placeKey(couponId, w.userId)) ?? null, now)
      if (sameStatus(w.last, status)) continue
      const positionOnly =
        w.last?.state === status.state && w.last.position === status.position && w.last.admittedUntil === status.admittedUntil
      if (positionOnly && local - w.pushedAt < POSITION_PUSH_MS) continue
      w.last = status
      w.pushedAt = local
      w.listener(status)
    }
  }

  /** The room's counters, read again when older than `since` (concurrent callers share one read). */
  private async view(couponId: number, since: number): Promise<SeenView> {
    const seen = this.views.get(couponId)
    if (seen && seen.readAt > since) return seen
    let reading = this.viewReads.get(couponId)
    if (!reading) {
      const startedAt = Date.now()
      reading = queueViewScript(this.deps.redis(), couponId).then((view) => {
        const fresh = { view, readAt: startedAt }
        const before = this.views.get(couponId)
        if (before && before.view.epoch !== view.epoch) this.forgetRoom(couponId)
        this.views.set(couponId, fresh)
        return fresh
      }).finally(() => this.viewReads.delete(couponId))
      this.viewReads.set(couponId, reading)
    }
    return await reading
  }

  private forgetRoom(couponId: number): void {
    const prefix = `${couponId}:`
    for (const key of this.places.keys()) if (key.startsWith(prefix)) this.places.delete(key)
  }

  private async readPlace(couponId: number, userId: number, settings: RoomSettings, epoch: string): Promise<CachedPlace> {
    const entry = await queueEntryScript(this.deps.redis(), couponId, userId, settings.startsAt)
    const place: CachedPlace = {
      turn: entry.turn, joined: entry.joined, position: entry.rank === null ? null : entry.rank + 1,
      admittedUntil: entry.admittedUntil, readAt: Date.now(), epoch,
    }
    this.places.set(placeKey(couponId, userId), place)
    return place
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = undefined
  }
}

const placeKey = (couponId: number, userId: number) => `${couponId}:${userId}`

/** Redis' clock now, from a view read at `readAt` (this process's clock). */
const redisNow = (view: QueueView, readAt: number) => view.now + (Date.now() - readAt)

function settingsOf(coupon: Coupon | null): RoomSettings {
  return {
    room: coupon?.waitingRoom ?? null,
    startsAt: coupon?.saleStartsAt ? Date.parse(coupon.saleStartsAt) : null,
    endsAt: coupon?.saleEndsAt ? Date.parse(coupon.saleEndsAt) : null,
  }
}

/** Whether a kept place may have changed since it was read. */
function stale(place: CachedPlace, settings: RoomSettings, view: QueueView, now: number): boolean {
  if (place.epoch !== null && place.epoch !== view.epoch) return true // places were put back after a loss: ranks moved
  const lapsed = place.admittedUntil !== null && place.admittedUntil <= now
  if (!place.joined || lapsed) return Date.now() - place.readAt > NOT_JOINED_TTL_MS
  if (place.position === null) return settings.startsAt === null || now >= settings.startsAt // the opening fixed it
  return place.position <= view.admitted && place.admittedUntil === null // admitted: when until?
}
