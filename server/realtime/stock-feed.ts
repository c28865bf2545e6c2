import type { RedisClient } from '../redis/client'
import { keys } from '../redis/keys'

/** How often this instance reads the stock of the coupons its subscriptions watch (a few times a second). */
export const STOCK_TICK_MS = 250

/** What `coupon.onStock` yields for one coupon. */
export interface StockUpdate {
  couponId: number
  /** Units left to reserve. */
  stock: number
  /** No unit left and none held by a pending order that could still come back. */
  soldOut: boolean
}

export type StockListener = (update: StockUpdate) => void

/** The listeners of one list of coupons: a catalogue page's visitors share one. */
interface Watch {
  key: string
  couponIds: number[]
  listeners: Set<StockListener>
}

/**
 * Live stock for the coupons this instance's subscriptions watch, off the purchase path: one
 * per-instance tick reads the stock and pending count of every watched coupon (one pipelined round
 * trip) and hands each listener the coupons that changed. However many purchases happen, a coupon
 * costs one read per tick and each subscription at most one message per coupon per tick; a
 * reservation does no extra work at all. Subscriptions to the same coupons share one entry per
 * coupon: a subscription costs one entry in its list's set, however many coupons it watches.
 */
export class StockFeed {
  private readonly watches = new Map<string, Watch>()
  private readonly byCoupon = new Map<number, Set<Watch>>()
  private readonly last = new Map<number, StockUpdate>()
  private timer: ReturnType<typeof setInterval> | undefined
  private ticking = false

  constructor(private readonly redis: () => RedisClient, private readonly tickMs = STOCK_TICK_MS) {}

  /** Coupons watched by at least one listener. */
  get couponCount(): number {
    return this.byCoupon.size
  }

  /**
   * Watches coupons (distinct ids): the listener gets their current values at once (those Redis
   * holds), then their changes. Returns the function that stops watching.
   */
  async watch(couponIds: number[], listener: StockListener): Promise<() => void> {
    const unknown = couponIds.filter((id) => !this.last.has(id))
    const read = await this.read(unknown)
    // From here on synchronous: no tick can slip a change in before the current values.
    for (const update of read) if (!this.last.has(update.couponId)) this.last.set(update.couponId, update)
    const watch = this.watchOf(couponIds)
    watch.listeners.add(listener)
    for (const id of couponIds) {
      const current = this.last.get(id)
      if (current) listener(current)
    }
    this.timer ??= setInterval(() => void this.tick(), this.tickMs)
    this.timer.unref?.()
    return () => this.unwatch(watch, listener)
  }

  /** The entry of these coupons (in any order), made when first watched. */
  private watchOf(couponIds: number[]): Watch {
    const sorted = couponIds.toSorted((a, b) => a - b)
    const key = sorted.join(',')
    let watch = this.watches.get(key)
    if (watch) return watch
    watch = { key, couponIds: sorted, listeners: new Set() }
    this.watches.set(key, watch)
    for (const id of sorted) {
      let set = this.byCoupon.get(id)
      if (!set) this.byCoupon.set(id, (set = new Set()))
      set.add(watch)
    }
    return watch
  }

  private unwatch(watch: Watch, listener: StockListener): void {
    if (!watch.listeners.delete(listener) || watch.listeners.size) return
    this.watches.delete(watch.key)
    for (const id of watch.couponIds) {
      const set = this.byCoupon.get(id)
      if (!set?.delete(watch) || set.size) continue
      this.byCoupon.delete(id)
      this.last.delete(id)
    }
    if (!this.byCoupon.size && this.timer) {
      clearInterval(this.timer)
      this.timer = undefined
    }
  }

  /** Stock and pending count of each coupon, one pipelined round trip; coupons Redis does not hold are left out. */
  private async read(couponIds: number[]): Promise<StockUpdate[]> {
    const client = this.redis()
    // Per coupon a GET and an HLEN of the same slot; ioredis pipelines them (Cluster: per node).
    const values = await Promise.all(couponIds.map((id) => Promise.all([client.get(keys.stock(id)), client.hlen(keys.pending(id))])))
    const out: StockUpdate[] = []
    couponIds.forEach((couponId, i) => {
      const [raw, pending] = values[i]!
      if (raw === null || raw === undefined) return
      const stock = Math.max(0, Number(raw))
      out.push({ couponId, stock, soldOut: stock === 0 && pending === 0 })
    })
    return out
  }

  /** One read of every watched coupon; pushes the ones that changed. */
  async tick(): Promise<void> {
    if (this.ticking || !this.byCoupon.size) return
    this.ticking = true
    try {
      for (const update of await this.read([...this.byCoupon.keys()])) {
        const before = this.last.get(update.couponId)
        const watches = this.byCoupon.get(update.couponId)
        if (!watches || (before?.stock === update.stock && before.soldOut === update.soldOut)) continue
        this.last.set(update.couponId, update)
        for (const watch of watches) for (const listener of watch.listeners) listener(update)
      }
    } catch {
      // Redis unavailable: the next tick tries again; pages keep their last stock meanwhile.
    } finally {
      this.ticking = false
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = undefined
  }
}
