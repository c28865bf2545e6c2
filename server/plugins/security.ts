import { createHash } from 'node:crypto'
import { config } from '../config'

/**
 * /ws receives only small frames: subscription requests, and once per socket the connectionParams
 * carrying an access token (~1.5 KB from the development realm, more with many roles). ws's default
 * limit (100 MiB) would let one frame fill memory.
 */
export const MAX_WS_PAYLOAD_BYTES = 16 * 1024

/**
 * Security settings of the web process:
 * - the WebSocket server's maxPayload (Nitro hands h3's websocket options to crossws' node adapter,
 *   which reads them after the plugins ran);
 * - a Content-Security-Policy on every rendered page, with the SHA-256 of each inline script the page
 *   holds instead of a nonce. Pages of the catalogue may be cached and served to many visitors (route
 *   rules or an NGINX cache): a nonce would then be shared by everyone who got the cached copy, and so
 *   be no secret, whereas the hashes are computed from the body, are cached together with it and stay
 *   right for it. Scripts loaded from /_nuxt/ are allowed by 'self'.
 */
export default defineNitroPlugin((nitro) => {
  const options = nitro.h3App.options as { websocket?: Record<string, unknown> }
  options.websocket = { ...options.websocket, serverOptions: { maxPayload: MAX_WS_PAYLOAD_BYTES } }

  if (import.meta.dev) return // Vite's dev client evaluates code the policy would refuse
  nitro.hooks.hook('render:response', (response) => {
    if (typeof response.body !== 'string') return
    response.headers = { ...response.headers, 'content-security-policy': contentSecurityPolicy(response.body) }
  })
})

const INLINE_SCRIPT = /<script(?![^>]*\ssrc=)([^>]*)>([\s\S]*?)<\/script>/gi
const DATA_SCRIPT = /\stype=["']?application\/(?:json|ld\+json)/i

/**
 * The policy of one page: its inline scripts by hash, everything else from this origin. Nothing in it
 * comes from the request (a cached page carries its policy to every visitor).
 */
export function contentSecurityPolicy(html: string): string {
  const hashes = new Set<string>()
  for (const [, attributes, body] of html.matchAll(INLINE_SCRIPT)) {
    // JSON payloads (Nuxt's __NUXT_DATA__) are data, never run: the policy does not apply to them.
    if (DATA_SCRIPT.test(attributes!) || !body) continue
    hashes.add(`'sha256-${createHash('sha256').update(body).digest('base64')}'`)
  }
  const cfg = config()
  const site = new URL(cfg.PUBLIC_URL)
  const keycloak = new URL(cfg.OIDC_ISSUER).origin
  const images = [cfg.S3_PUBLIC_URL, cfg.S3_ENDPOINT].filter(Boolean).map((u) => new URL(u!).origin)
  return [
    "default-src 'self'",
    `script-src 'self' ${[...hashes].join(' ')}`.trim(),
    "style-src 'self' 'unsafe-inline'",
    `img-src 'self' data: blob: https: ${images.join(' ')}`.trim(),
    "font-src 'self' data:",
    `connect-src 'self' ${site.protocol === 'https:' ? 'wss' : 'ws'}://${site.host}`,
    "object-src 'none'",
    "base-uri 'self'",
    // sign-out posts here and is redirected on to Keycloak's end-session page
    `form-action 'self' ${keycloak}`,
    "frame-ancestors 'none'",
  ].join('; ')
}
