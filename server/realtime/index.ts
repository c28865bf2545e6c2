import { config } from '../config'
import { serverId } from '../domain/instance'
import { metrics } from '../observability/metrics'
import { redis } from '../redis/client'
import { LiveConnections, type LiveSocket } from './connections'
import { OrderFeed } from './order-feed'
import { StockFeed } from './stock-feed'
import { PushStream } from './stream'

/** This instance's sockets on /ws and their limits. */
export const connections = new LiveConnections(() => {
  const c = config()
  return {
    socketsPerUser: c.WS_SOCKETS_PER_USER,
    subscriptionsPerSocket: c.WS_SUBSCRIPTIONS_PER_SOCKET,
    subscriptions: c.WS_MAX_SUBSCRIPTIONS,
  }
})

/** The `order.onUpdate` subscriptions of this instance, found by the workers through presence. */
export const orderFeed = new OrderFeed(redis, serverId)

/** Live stock of the coupons this instance's `coupon.onStock` subscriptions watch. */
export const stockFeed = new StockFeed(redis)

/**
 * What a subscription procedure returns: a stream holding one of the socket's subscription slots
 * until the subscription stops (RATE_LIMITED / TRY_AGAIN_LATER when the socket or the instance is
 * full). Feed it with `push`; `onEnd` for clean-ups.
 */
export function openStream<T>(socket: LiveSocket, signal: AbortSignal | undefined): PushStream<T> {
  connections.takeSubscription(socket)
  metrics.wsSubscriptions.inc()
  const stream = new PushStream<T>(signal)
  // A stream runs its clean-ups once: the slot is given back once.
  stream.onEnd(() => {
    connections.releaseSubscription(socket)
    metrics.wsSubscriptions.dec()
  })
  return stream
}
