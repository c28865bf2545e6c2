import { createRedis } from '../redis/client'
import { channels } from '../redis/keys'
import { serverId } from '../domain/instance'
import type { OrderUpdate } from '../domain/orders/schemas'
import { log } from '../observability/log'
import { metrics } from '../observability/metrics'
import { sockets } from '../realtime'

/**
 * Subscribes this instance to its payment_update:<serverId> channel (results for its sockets) and
 * keeps the sockets' presence fresh.
 */
export default defineNitroPlugin((nitro) => {
  const subscriber = createRedis()
  subscriber.on('error', (error) => log.warn('pub/sub connection error', { error }))
  subscriber.subscribe(channels.paymentUpdate(serverId)).catch((error) => log.error('subscribe failed', { error }))
  subscriber.on('message', (channel: string, message: string) => {
    try {
      const { userId, update } = JSON.parse(message) as { userId: number, update: OrderUpdate }
      metrics.pubsubDeliveries.inc(sockets.deliver(userId, update))
    } catch (error) {
      log.warn('bad pub/sub message', { channel, error })
    }
  })

  const presence = setInterval(() => {
    sockets.touch().catch((error) => log.warn('presence refresh failed', { error }))
    metrics.wsConnections.set(sockets.size)
  }, 20_000)
  presence.unref()

  nitro.hooks.hook('close', async () => {
    clearInterval(presence)
    sockets.closeAll()
    await subscriber.quit().catch(() => subscriber.disconnect())
  })
})
