import { finishSignIn } from '../../../auth/flow'

/** The redirect URI registered in the realm: `${PUBLIC_URL}/auth/keycloak/callback`. */
export default defineEventHandler((event) => finishSignIn(event))
