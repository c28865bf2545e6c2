import { config } from '../config'

/**
 * The address this server requests for a URL of the identity provider: with OIDC_INTERNAL_URL set,
 * a URL at OIDC_ISSUER's origin is sent to the internal origin instead (same path), so the provider
 * can sit behind an internal name or a proxy while tokens keep naming the public issuer.
 */
export function internalUrl(url: string): string {
  const cfg = config()
  if (!cfg.OIDC_INTERNAL_URL) return url
  const target = new URL(url)
  if (target.origin !== new URL(cfg.OIDC_ISSUER).origin) return url
  const internal = new URL(cfg.OIDC_INTERNAL_URL)
  target.protocol = internal.protocol
  target.host = internal.host
  return target.href
}
