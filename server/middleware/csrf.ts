import { isCrossSite, isSafeMethod } from '../auth/csrf'
import { sessionCookieOf } from '../auth/session'

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
    setResponseStatus(event, 403)
    setResponseHeader(event, 'content-type', 'application/json')
    return { error: { message: 'Cross-site request refused', code: -32003, data: { code: 'FORBIDDEN', httpStatus: 403, reason: 'FORBIDDEN' } } }
  }
})
