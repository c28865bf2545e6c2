import { startSignIn } from '../../auth/flow'

/** Create an account on Keycloak's registration page (prompt=create), then come back signed in. */
export default defineEventHandler((event) => startSignIn(event, { register: true }))
