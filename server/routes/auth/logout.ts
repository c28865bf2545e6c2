import { signOut } from '../../auth/flow'

/** Sign out here and at Keycloak (GET from a link or POST from a form). */
export default defineEventHandler((event) => signOut(event))
