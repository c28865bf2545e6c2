import { startSignIn } from '../../auth/flow'

/** Sign in through Keycloak; `?returnTo=/path` comes back there afterwards. */
export default defineEventHandler((event) => startSignIn(event))
