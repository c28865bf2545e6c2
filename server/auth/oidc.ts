import * as client from 'openid-client'
import { config } from '../config'
import { internalUrl } from './issuer'

/**
 * The browser sign-in's OpenID Connect client (openid-client 6): authorization code flow with PKCE,
 * state and nonce, against the confidential web client. Discovery happens once per process.
 */

let configuration: Promise<client.Configuration> | undefined

export function oidcClient(): Promise<client.Configuration> {
  if (!configuration) {
    const cfg = config()
    const issuer = new URL(cfg.OIDC_ISSUER)
    configuration = client.discovery(
      issuer,
      cfg.OIDC_WEB_CLIENT_ID,
      undefined,
      client.ClientSecretBasic(cfg.OIDC_WEB_CLIENT_SECRET),
      {
        // Local stacks run Keycloak over plain http on loopback.
        ...(issuer.protocol === 'http:' ? { execute: [client.allowInsecureRequests] } : {}),
        timeout: 10,
        // discovery and every later request (token, …) of this configuration; the cast: the body
        // types of oauth4webapi and of the DOM's fetch differ only in a Uint8Array generic
        [client.customFetch]: (url, options) => fetch(internalUrl(url), options as RequestInit),
      },
    )
    // A failed discovery (Keycloak not up yet) is retried on the next sign-in.
    configuration.catch(() => { configuration = undefined })
  }
  return configuration
}

/** `${PUBLIC_URL}/auth/keycloak/callback`: the redirect URI registered in the realm. */
export function redirectUri(): string {
  return new URL('/auth/keycloak/callback', config().PUBLIC_URL).href
}

/** PUBLIC_URL's root, where Keycloak sends the browser after sign-out. */
export function postLogoutRedirectUri(): string {
  return new URL('/', config().PUBLIC_URL).href
}

export { client }
