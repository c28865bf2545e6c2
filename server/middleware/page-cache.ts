import type { H3Event } from 'h3'
import { canonicalPageUrl } from '../cache/pages'

/**
 * In front of the cached pages (nuxt.config routeRules, server/cache/pages.ts):
 * - each answers at one URL; other spellings (made-up query strings, `?page=1`, `/coupons/01`) are
 *   redirected there, so nobody can fill the shared cache with copies of a page;
 * - a conditional GET is answered 304 with the headers of the page's 200 (see answerNotModifiedLikeThePage);
 * - browsers revalidate a page every time they show it again (see revalidatedByBrowsers);
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
  revalidatedByBrowsers(event)
  answerNotModifiedLikeThePage(event)
  const rules = getRouteRules(event)
  if (rules.cache) event.context._nitro!.routeRules = { ...rules, cache: undefined }
})

/**
 * Nitro's cache says `s-maxage=10, stale-while-revalidate=60`: for shared caches (NGINX reads s-maxage
 * first). A browser, given no max-age, guesses a freshness from Last-Modified and may show its copy
 * without asking — stock and sale state as they were up to a minute ago, after a sign-in or a back
 * button. `max-age=0` makes it ask every time; the answer is a 304 while the render is unchanged.
 */
function revalidatedByBrowsers(event: H3Event): void {
  const { res } = event.node
  const setHeader = res.setHeader.bind(res)
  res.setHeader = ((name: string, value: number | string | readonly string[]) => {
    const browserAge = name.toLowerCase() === 'cache-control' && typeof value === 'string'
      && value.includes('s-maxage') && !/(^|[\s,])max-age=/.test(value)
    return setHeader(name, browserAge ? `max-age=0, ${value}` : value)
  }) as typeof res.setHeader
}

/** What describes a body, which a 304 has none of. */
const BODY_HEADERS = ['content-length', 'content-type', 'content-encoding']

/**
 * A browser merges the headers of a 304 into the page it holds. Nitro's cache answers a conditional
 * GET with a Cache-Control of its own and without the page's Content-Security-Policy (computed from the
 * body), so NGINX added its strict fallback policy and the revalidated page had every script, style and
 * image blocked. Here the conditions are taken off the request, the page is answered as for a first
 * visit, and a 200 whose validator matches is sent as a 304 carrying the 200's own headers.
 */
function answerNotModifiedLikeThePage(event: H3Event): void {
  const { req, res } = event.node
  const ifNoneMatch = req.headers['if-none-match']
  const ifModifiedSince = req.headers['if-modified-since']
  if (!ifNoneMatch && !ifModifiedSince) return
  delete req.headers['if-none-match']
  delete req.headers['if-modified-since']
  const end = res.end.bind(res) as (...args: unknown[]) => typeof res
  res.end = ((...args: unknown[]) => {
    if (
      res.statusCode !== 200 ||
      res.headersSent ||
      !notModified(res.getHeader('etag'), res.getHeader('last-modified'), ifNoneMatch, ifModifiedSince)
    )
      return end(...args)
    res.statusCode = 304
    for (const name of BODY_HEADERS) res.removeHeader(name)
    return end()
  }) as typeof res.end
}

type HeaderValue = number | string | string[] | undefined

/** RFC 9110 §13.1: If-None-Match (weak comparison) decides when present, else If-Modified-Since. */
function notModified(
  etag: HeaderValue,
  lastModified: HeaderValue,
  ifNoneMatch: string | undefined,
  ifModifiedSince: string | undefined,
): boolean {
  const opaque = (tag: string) => tag.trim().replace(/^W\//, '')
  if (ifNoneMatch) {
    if (typeof etag !== 'string') return false
    return ifNoneMatch.split(',').some((tag) => tag.trim() === '*' || opaque(tag) === opaque(etag))
  }
  if (!ifModifiedSince || typeof lastModified !== 'string') return false
  const since = Date.parse(ifModifiedSince)
  return !Number.isNaN(since) && Date.parse(lastModified) <= since
}
