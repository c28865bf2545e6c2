import type { RedisClient } from '../redis/client'
import { keys } from '../redis/keys'
import { presenceTouchScript } from '../redis/scripts'
import type { PublishedUpdate } from '../domain/orders/updates'

export type UpdateListener = (event: PublishedUpdate) => void

const PRESENCE_TTL_MS = 60_000

/**
 * The `order.onUpdate` subscriptions of this web instance by user, and the presence record that lets
 * workers find this instance: presence:user:<id> is a sorted set of serverIds scored by when the entry
 * expires (refreshed every 20 s while a subscription lives, server/plugins/realtime.ts).
 */
export class OrderFeed {
  private readonly byUser = new Map<number, Set<UpdateListener>>()

  constructor(private readonly redis: () => RedisClient, private readonly serverId: string) {}

  /** Open subscriptions. */
  get size(): number {
    let n = 0
    for (const set of this.byUser.values()) n += set.size
    return n
  }

  /**
   * Adds a listener of the user's updates; resolves once the presence record names this instance, so
   * that every update a worker settles from then on is published here. Returns the function that
   * removes it.
   */
  async listen(userId: number, listener: UpdateListener): Promise<() => void> {
    let set = this.byUser.get(userId)
    if (!set) this.byUser.set(userId, (set = new Set()))
    set.add(listener)
    const remove = () => this.remove(userId, listener)
    try {
      await presenceTouchScript(this.redis(), userId, this.serverId, PRESENCE_TTL_MS)
    } catch (error) {
      remove()
      throw error
    }
    return remove
  }

  private remove(userId: number, listener: UpdateListener): void {
    const set = this.byUser.get(userId)
    if (!set?.delete(listener) || set.size) return
    this.byUser.delete(userId)
    // Without a listener here the workers need not publish here; a failure only costs them a publish.
    this.redis().zrem(keys.presence(userId), this.serverId).catch(() => {})
  }

  /** Hands an update to the user's listeners on this instance; returns how many got it. */
  deliver(event: PublishedUpdate): number {
    const set = this.byUser.get(event.userId)
    if (!set) return 0
    for (const listener of set) listener(event)
    return set.size
  }

  /** Refreshes the presence of every user with a listener, on Redis' clock; stale entries expire on their own. */
  async touch(): Promise<void> {
    const client = this.redis()
    await Promise.all([...this.byUser.keys()].map((userId) => presenceTouchScript(client, userId, this.serverId, PRESENCE_TTL_MS)))
  }
}
