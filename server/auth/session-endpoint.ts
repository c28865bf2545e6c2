import { defineEventHandler, deleteCookie, setResponseHeader } from 'h3'
import { DomainError } from '../domain/errors'
import { refuse } from '../trpc/errors'
import { identityOfSessionCookie, SESSION_COOKIE, sessionCookieOf, sessionOptions } from './session'

/**
 * Replaces nuxt-auth-utils' GET /api/_auth/session (which `useUserSession().fetch()` calls during every
 * server render): the module's handler goes through h3's getSession and so seals and sets a new cookie
 * for each anonymous visitor. This one only reads: `{}` for anonymous visitors, `{ user, exp }` when
 * signed in, and a tampered or stale cookie is deleted (one that cannot be checked right now is kept).
 * Wired in nuxt.config.ts (`nitro:config`).
 */
export default defineEventHandler(async (event) => {
  setResponseHeader(event, 'cache-control', 'private, no-store')
  const sealed = sessionCookieOf(event.node.req.headers.cookie)
  if (!sealed) return {}
  try {
    const identity = await identityOfSessionCookie(sealed)
    if (!identity) {
      deleteCookie(event, SESSION_COOKIE, sessionOptions().cookie)
      return {}
    }
    return { user: identity }
  } catch (error) {
    if (!(error instanceof DomainError)) throw error
    // the session could not be checked (Redis away): refused for now, but not signed out
    if (error.reason !== 'UNAUTHORIZED') return refuse(event, error.reason, error.message)
    deleteCookie(event, SESSION_COOKIE, sessionOptions().cookie)
    return {}
  }
})
