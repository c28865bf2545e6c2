import { createRedis } from '../redis/client'
import { channels } from '../redis/keys'
import { serverId } from '../domain/instance'
import type { PublishedUpdate } from '../domain/orders/updates'
import { log } from '../observability/log'
import { metrics } from '../observability/metrics'
import { connections, orderFeed, stockFeed } from '../realtime'

/**
 * Subscribes this instance to its payment_update:<serverId> channel (results for its `order.onUpdate`
 * subscriptions) and keeps their presence fresh.
 */
export default defineNitroPlugin((nitro) => {
  const subscriber = createRedis()
  subscriber.on('error', (error) => log.warn('pub/sub connection error', { error }))
  subscriber.subscribe(channels.paymentUpdate(serverId)).catch((error) => log.error('subscribe failed', { error }))
  subscriber.on('message', (channel: string, message: string) => {
    try {
      // a worker sends the updates of one batch for this instance together (an array); one alone is an object
      const updates = JSON.parse(message) as PublishedUpdate | PublishedUpdate[]
      for (const update of Array.isArray(updates) ? updates : [updates]) metrics.pubsubDeliveries.inc(orderFeed.deliver(update))
    } catch (error) {
      log.warn('bad pub/sub message', { channel, error })
    }
  })

  const presence = setInterval(() => {
    orderFeed.touch().catch((error) => log.warn('presence refresh failed', { error }))
    metrics.wsConnections.set(connections.size)
  }, 20_000)
  presence.unref()

  nitro.hooks.hook('close', async () => {
    clearInterval(presence)
    stockFeed.stop()
    connections.closeAll()
    await subscriber.quit().catch(() => subscriber.disconnect())
  })
})
