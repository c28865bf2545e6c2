import type { H3Event } from 'h3'
import { DomainError } from '../domain/errors'
import { bearerToken } from './bearer'
import { isCrossSite, isSafeMethod } from './csrf'
import { rememberedAccessToken, verifyAccessToken } from './jwt'
import { identityOfSessionCookie, sessionCookieOf } from './session'
import type { Credentials, Identity } from './types'

/**
 * The identity behind a set of credentials, the one check shared by tRPC and the WebSocket:
 * a bearer token (the Authorization header, or the token a socket sends in its connectionParams)
 * decides when present; else the nuxt-auth-utils session cookie; else anonymous (null).
 * Throws DomainError('UNAUTHORIZED') for an invalid token or session cookie, and DomainError('FORBIDDEN')
 * for a cookie-authenticated state change (or socket) from another site when method/origin are given.
 */
export async function identifyCredentials(credentials: Credentials): Promise<Identity | null> {
  const { authorization } = credentials
  if (authorization) {
    const token = bearerToken(authorization)
    if (!token) throw new DomainError('UNAUTHORIZED', 'Unsupported Authorization header: expected Bearer <token>')
    return toIdentity(await verifyAccessToken(token))
  }

  const sealed = sessionCookieOf(credentials.cookie)
  if (!sealed) return null
  const identity = await identityOfSessionCookie(sealed)
  if (identity && (credentials.method !== undefined || credentials.origin !== undefined)) {
    const unsafe = credentials.method === 'UPGRADE' || !isSafeMethod(credentials.method)
    if (unsafe && isCrossSite(credentials.origin, credentials.secFetchSite)) {
      throw new DomainError('FORBIDDEN', 'Cross-site request refused')
    }
  }
  return identity
}

function toIdentity(token: Identity): Identity {
  return { sub: token.sub, email: token.email, isAdmin: token.isAdmin }
}

/** The identity behind an HTTP request (see identifyCredentials); null when anonymous. */
export async function identifyEvent(event: H3Event): Promise<Identity | null> {
  const known = identifyEventNow(event)
  return known !== undefined ? known : await identifyEventLater(event)
}

/** identifyEvent's check of what identifyEventNow cannot answer at once: a token new to this process, or the session cookie. */
export async function identifyEventLater(event: H3Event): Promise<Identity | null> {
  const headers = event.node.req.headers
  return await identifyCredentials({
    authorization: headers.authorization,
    cookie: headers.cookie,
    method: event.method,
    origin: headers.origin,
    secFetchSite: headers['sec-fetch-site'] as string | undefined,
  })
}

/**
 * What identifyEvent would answer, when it needs no waiting: null for a request without credentials,
 * the identity of a bearer token this process has verified before (the same refusals for a malformed
 * header or an expired token); undefined when a token or cookie must be checked first.
 */
export function identifyEventNow(event: H3Event): Identity | null | undefined {
  const { authorization, cookie } = event.node.req.headers
  if (!authorization) return cookie ? undefined : null
  const token = bearerToken(authorization)
  if (!token) throw new DomainError('UNAUTHORIZED', 'Unsupported Authorization header: expected Bearer <token>')
  const remembered = rememberedAccessToken(token)
  return remembered && toIdentity(remembered)
}

/**
 * The credentials of a WebSocket upgrade request (crossws' `upgrade(request)` hook): the session
 * cookie, which identifyCredentials refuses from another site's page (cross-site WebSocket
 * hijacking), or an Authorization header. Scripts send their token in connectionParams instead
 * (server/trpc/context.ts); a token in the URL is refused, so none reaches a log.
 */
export function upgradeCredentials(request: { headers: Headers }): Credentials {
  const h = request.headers
  return {
    authorization: h.get('authorization'),
    cookie: h.get('cookie'),
    method: 'UPGRADE',
    origin: h.get('origin'),
    secFetchSite: h.get('sec-fetch-site'),
  }
}
