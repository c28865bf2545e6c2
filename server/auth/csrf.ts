import { config } from '../config'

/**
 * Cross-site request checks for cookie-authenticated requests (the session cookie is SameSite=Lax,
 * this is the second line). Requests with a bearer token are not subject to it: a browser never adds
 * an Authorization header on its own.
 */

let publicOrigin: string | undefined
function ownOrigin(): string {
  publicOrigin ??= new URL(config().PUBLIC_URL).origin
  return publicOrigin
}

/** Methods that never change state, so a cross-site navigation with them is harmless. */
export function isSafeMethod(method: string | null | undefined): boolean {
  return !method || method === 'GET' || method === 'HEAD' || method === 'OPTIONS'
}

/**
 * True when a browser tells us the request comes from another site or origin: `Sec-Fetch-Site` other
 * than same-origin/none, or an `Origin` other than PUBLIC_URL's. Clients that send neither (curl,
 * scripts) are not browsers acting for someone else, and pass.
 */
export function isCrossSite(origin: string | null | undefined, secFetchSite: string | null | undefined): boolean {
  if (secFetchSite && secFetchSite !== 'same-origin' && secFetchSite !== 'none') return true
  if (origin && origin !== ownOrigin()) return true
  return false
}
