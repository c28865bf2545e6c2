import type { RedisClient } from '../redis/client'
import { keys } from '../redis/keys'
import { presenceTouchScript } from '../redis/scripts'
import type { OrderUpdate } from '../domain/orders/schemas'

/** What this module needs of a socket: crossws peers satisfy it. */
export interface Socket {
  send: (data: string) => void
  close: (code?: number, reason?: string) => void
}

const PRESENCE_TTL_MS = 60_000

/**
 * The open sockets of this web instance by user, and the presence record that lets workers find this
 * instance: presence:user:<id> is a sorted set of serverIds scored by when the entry expires.
 */
export class SocketRegistry {
  private readonly byUser = new Map<number, Set<Socket>>()

  constructor(private readonly redis: () => RedisClient, private readonly serverId: string) {}

  get size(): number {
    let n = 0
    for (const set of this.byUser.values()) n += set.size
    return n
  }

  async add(userId: number, socket: Socket): Promise<void> {
    let set = this.byUser.get(userId)
    if (!set) this.byUser.set(userId, (set = new Set()))
    set.add(socket)
    await this.touch([userId])
  }

  async remove(userId: number, socket: Socket): Promise<void> {
    const set = this.byUser.get(userId)
    if (!set) return
    set.delete(socket)
    if (set.size) return
    this.byUser.delete(userId)
    await this.redis().zrem(keys.presence(userId), this.serverId)
  }

  /** Pushes an update to every socket of the user on this instance; returns how many got it. */
  deliver(userId: number, update: OrderUpdate): number {
    const set = this.byUser.get(userId)
    if (!set) return 0
    const message = JSON.stringify(update)
    for (const socket of set) socket.send(message)
    return set.size
  }

  /** Refreshes the presence of the given users (all by default), on Redis' clock; stale entries expire on their own. */
  async touch(userIds: Iterable<number> = this.byUser.keys()): Promise<void> {
    const client = this.redis()
    await Promise.all([...userIds].map((userId) => presenceTouchScript(client, userId, this.serverId, PRESENCE_TTL_MS)))
  }

  /** Closes every socket with a hint to reconnect elsewhere (1012: service restart). */
  closeAll(): void {
    for (const set of this.byUser.values()) for (const socket of set) socket.close(1012, 'server restarting, reconnect')
    this.byUser.clear()
  }
}
