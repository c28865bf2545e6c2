import { refreshKeys } from '../auth/jwt'
import { sessionPassword } from '../auth/session'
import { log } from '../observability/log'

/**
 * Start-up of the auth layer: nuxt-auth-utils' session helpers read NUXT_SESSION_PASSWORD, so it is
 * filled from SESSION_PASSWORD (config rejects a short one in production); and the realm's signing
 * keys are fetched early so the first bearer request does not wait for them.
 */
export default defineNitroPlugin(() => {
  process.env.NUXT_SESSION_PASSWORD ||= sessionPassword()
  refreshKeys().catch((error) => {
    log.warn('realm signing keys not loaded yet; retried on first use', { error })
  })
})
