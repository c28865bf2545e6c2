import type { RedisClient } from '../redis/client'
import { keys } from '../redis/keys'
import type { Socket } from './sockets'

/** How often this instance reads the stock of the coupons its sockets watch (a few times a second). */
export const STOCK_TICK_MS = 250
/** A tab watches the coupon on screen; a few leave room for several tabs sharing nothing. */
const MAX_COUPONS_PER_SOCKET = 4

export interface StockMessage {
  type: 'stock'
  couponId: number
  stock: number
}

/**
 * Live stock for open coupon pages, off the purchase path: sockets subscribe to coupons
 * (`{ "type": "subscribe", "couponId": 1 }`), and one per-instance tick reads the stock of the coupons
 * that have subscribers (one pipelined round trip) and pushes `{ type: 'stock', couponId, stock }` to
 * their subscribers when it changed. However many purchases happen, a coupon costs one read per tick
 * and each socket at most one message per tick; a reservation does no extra work at all.
 */
export class StockFeed {
  private readonly subscribers = new Map<number, Set<Socket>>()
  private readonly watched = new Map<Socket, Set<number>>()
  private readonly last = new Map<number, number>()
  private timer: ReturnType<typeof setInterval> | undefined
  private ticking = false

  constructor(private readonly redis: () => RedisClient, private readonly tickMs = STOCK_TICK_MS) {}

  /** Handles a client message; returns false when it is not one of this feed's. */
  handle(socket: Socket, text: string): boolean {
    let message: { type?: unknown, couponId?: unknown }
    try {
      message = JSON.parse(text)
    } catch {
      return false
    }
    const couponId = message.couponId
    if (typeof couponId !== 'number' || !Number.isInteger(couponId) || couponId < 1 || couponId > 2_147_483_647) return false
    if (message.type === 'subscribe') this.subscribe(socket, couponId)
    else if (message.type === 'unsubscribe') this.unsubscribe(socket, couponId)
    else return false
    return true
  }

  subscribe(socket: Socket, couponId: number): void {
    let mine = this.watched.get(socket)
    if (!mine) this.watched.set(socket, (mine = new Set()))
    if (mine.has(couponId)) return
    // The oldest subscription makes room: a tab that moved on does not need it.
    if (mine.size >= MAX_COUPONS_PER_SOCKET) this.unsubscribe(socket, mine.values().next().value!)
    mine.add(couponId)
    let set = this.subscribers.get(couponId)
    if (!set) this.subscribers.set(couponId, (set = new Set()))
    set.add(socket)
    const known = this.last.get(couponId)
    if (known !== undefined) socket.send(JSON.stringify({ type: 'stock', couponId, stock: known } satisfies StockMessage))
    this.timer ??= setInterval(() => { void this.tick() }, this.tickMs)
    this.timer.unref?.()
  }

  unsubscribe(socket: Socket, couponId: number): void {
    this.watched.get(socket)?.delete(couponId)
    const set = this.subscribers.get(couponId)
    if (!set) return
    set.delete(socket)
    if (set.size) return
    this.subscribers.delete(couponId)
    this.last.delete(couponId)
    if (!this.subscribers.size && this.timer) {
      clearInterval(this.timer)
      this.timer = undefined
    }
  }

  /** A closed socket leaves every coupon it watched. */
  drop(socket: Socket): void {
    for (const couponId of [...(this.watched.get(socket) ?? [])]) this.unsubscribe(socket, couponId)
    this.watched.delete(socket)
  }

  get couponCount(): number {
    return this.subscribers.size
  }

  /** One read of every watched coupon's stock; pushes the ones that changed. */
  async tick(): Promise<void> {
    if (this.ticking || !this.subscribers.size) return
    this.ticking = true
    try {
      const ids = [...this.subscribers.keys()]
      // One GET per coupon, pipelined (the keys live in different Redis Cluster slots).
      const values = await Promise.all(ids.map((id) => this.redis().get(keys.stock(id))))
      ids.forEach((couponId, i) => {
        const raw = values[i]
        if (raw === null || raw === undefined) return
        const stock = Math.max(0, Number(raw))
        if (this.last.get(couponId) === stock) return
        this.last.set(couponId, stock)
        const message = JSON.stringify({ type: 'stock', couponId, stock } satisfies StockMessage)
        for (const socket of this.subscribers.get(couponId) ?? []) socket.send(message)
      })
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
