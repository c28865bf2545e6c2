import { redis } from '../redis/client'
import { assertNoEviction, EvictionPolicyError } from '../redis/memory-policy'
import { log } from '../observability/log'

/** A web instance refuses to run against a Redis that may evict stock or reservations. */
export default defineNitroPlugin(() => {
  if (import.meta.prerender) return
  assertNoEviction(redis()).catch((error: unknown) => {
    if (error instanceof EvictionPolicyError) {
      log.error('refusing to start', { error: error.message })
      process.exit(1)
    }
    // Redis unreachable at start-up is an outage, not a misconfiguration: purchases answer TRY_AGAIN_LATER.
    log.warn('could not check Redis maxmemory-policy at start-up', { error })
  })
})
