import { isCrossSite, isSafeMethod } from '../auth/csrf'
import { sessionCookieOf } from '../auth/session'
import { refuse } from '../trpc/errors'

/**
 * Refuses state-changing requests that carry the session cookie but come from another site's page
 * (Origin / Sec-Fetch-Site). Bearer-token requests are exempt, and so is /api/trpc, whose context
 * makes the same check and answers in the tRPC error shape.
 */
export default defineEventHandler((event) => {
  if (isSafeMethod(event.method)) return
  const headers = event.node.req.headers
  if (headers.authorization || !sessionCookieOf(headers.cookie)) return
  if (event.path.startsWith('/api/trpc')) return
  if (isCrossSite(headers.origin, headers['sec-fetch-site'] as string | undefined)) {
    return refuse(event, 'FORBIDDEN', 'Cross-site request refused')
  }
})
