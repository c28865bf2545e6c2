import { startInvalidationSubscriber } from '../cache/invalidation'

/**
 * Keeps this instance's caches honest: every message on `cache:invalidate` reaches the listeners
 * registered with `onInvalidate` (the catalogue's L1, the purchase path's sold-out flags), and a
 * reconnect of the subscriber connection clears them all.
 */
export default defineNitroPlugin((nitroApp) => {
  const subscriber = startInvalidationSubscriber()
  nitroApp.hooks.hook('close', () => subscriber.stop())
})
