import { connectPaymentPublisher } from '../domain/orders/purchase'
import { log } from '../observability/log'

/**
 * Connects the payment publisher's Kafka producer when the instance starts, not on its first
 * purchase: a fresh instance taking a sale's opening burst would otherwise spend part of those
 * purchases' 3 s publish timeout connecting. Kafka down at start only delays it: /readyz (and any
 * purchase) tries again.
 */
export default defineNitroPlugin(() => {
  connectPaymentPublisher().catch((error: unknown) => log.warn('payment publisher not connected at start; /readyz retries', { error }))
})
