import { canonicalPageUrl } from '../cache/pages'

/**
 * In front of the cached pages (nuxt.config routeRules, server/cache/pages.ts):
 * - each answers at one URL; other spellings (made-up query strings, `?page=1`, `/coupons/01`) are
 *   redirected there, so nobody can fill the shared cache with copies of a page;
 * - the Nuxt renderer sees the route's rules without `cache`. Nitro has already wrapped the renderer in
 *   its cache for these routes; with `cache` set, the renderer would also store each page's payload
 *   under the path, which fails for `/` (an empty storage key) and is never read (payloads are inline).
 */
export default defineEventHandler((event) => {
  if (event.method !== 'GET' && event.method !== 'HEAD') return
  const url = event.node.req.url ?? '/'
  if (url !== '/' && !url.startsWith('/?') && !url.startsWith('/coupons/')) return
  const canonical = canonicalPageUrl(url)
  if (canonical) return sendRedirect(event, canonical, 302)
  const rules = getRouteRules(event)
  if (rules.cache) event.context._nitro!.routeRules = { ...rules, cache: undefined }
})
