import { createRedis, redis, type RedisClient } from '../redis/client'
import { channels } from '../redis/keys'
import { log } from '../observability/log'

/**
 * One message on `cache:invalidate`. `couponId: null` means "everything" (also sent locally when the
 * subscriber reconnects, because messages published while it was away are lost).
 */
export interface Invalidation {
  couponId: number | null
  /** Why: `coupon-changed` (admin edit), `stock-returned` (stock back, clear sold-out flags), `reconnect`… */
  reason: string
}

export type InvalidationListener = (message: Invalidation) => void

const listeners = new Set<InvalidationListener>()

/**
 * Registers a listener for every invalidation this process sees (its own included); returns the
 * function that removes it. The catalogue's L1 and the purchase path's sold-out flags both use it.
 */
export function onInvalidate(listener: InvalidationListener): () => void {
  listeners.add(listener)
  return () => { listeners.delete(listener) }
}

/** Hands a message to every local listener; one listener failing does not stop the others. */
export function dispatchInvalidation(message: Invalidation): void {
  for (const listener of listeners) {
    try {
      listener(message)
    } catch (error) {
      log.error('invalidation listener failed', { error })
    }
  }
}

/** Applies the message in this process at once, then tells every other instance. */
export async function publishInvalidation(message: Invalidation, client: RedisClient = redis()): Promise<void> {
  dispatchInvalidation(message)
  await client.publish(channels.cacheInvalidate, JSON.stringify(message))
}

function parse(raw: string): Invalidation | undefined {
  try {
    const data = JSON.parse(raw) as Partial<Invalidation>
    const couponId = typeof data.couponId === 'number' ? data.couponId : null
    return { couponId, reason: typeof data.reason === 'string' ? data.reason : 'unknown' }
  } catch {
    return undefined
  }
}

export interface InvalidationSubscriber {
  /** Settles once the first SUBSCRIBE is confirmed. */
  ready: Promise<void>
  stop: () => Promise<void>
}

/**
 * Subscribes to `cache:invalidate` on a dedicated connection (a subscribed connection cannot run other
 * commands). Every reconnect after the first dispatches `{ couponId: null, reason: 'reconnect' }`,
 * since messages published while it was away are lost. A Redis that is down at start only delays it.
 */
export function startInvalidationSubscriber(): InvalidationSubscriber {
  const subscriber: RedisClient = createRedis()
  let connectedBefore = false
  let markReady: () => void = () => {}
  const ready = new Promise<void>((resolve) => { markReady = resolve })
  subscriber.on('ready', () => {
    const reconnected = connectedBefore
    connectedBefore = true
    // Re-subscribing is idempotent; doing it on every `ready` also covers a first attempt that failed.
    subscriber.subscribe(channels.cacheInvalidate)
      .then(() => markReady(), (error: unknown) => log.warn('cache invalidation subscribe failed', { error }))
      .finally(() => {
        // Only once subscribed again (or refused): a message published before that was missed, and
        // a copy cached between the drop and the subscription would otherwise outlive it.
        if (reconnected) dispatchInvalidation({ couponId: null, reason: 'reconnect' })
      })
  })
  subscriber.on('error', (error: Error) => {
    log.warn('cache invalidation subscriber error', { error })
  })
  subscriber.on('message', (channel: string, raw: string) => {
    if (channel !== channels.cacheInvalidate) return
    const message = parse(raw)
    if (message) dispatchInvalidation(message)
  })
  const stop = async () => {
    await subscriber.quit().catch(() => subscriber.disconnect())
  }
  return { ready, stop }
}
