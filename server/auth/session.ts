import { randomBytes } from 'node:crypto'
import { unsealSession } from 'h3'
import { LRUCache } from 'lru-cache'
import { config } from '../config'
import { DomainError } from '../domain/errors'
import type { Identity } from './types'
import { log } from '../observability/log'
import { isSessionRevoked } from './revocation'

/**
 * The browser session: nuxt-auth-utils' sealed cookie (h3 `useSession`, iron seal), written by the
 * sign-in callback with `replaceUserSession` and read here WITHOUT h3's `getSession`, which would seal
 * and set a fresh cookie for every anonymous visitor (docs/decisions.md, "No session for anonymous visitors"). An unsealed cookie is
 * remembered by its exact value for a short time, so signed-in requests skip key derivation.
 */

/** nuxt-auth-utils' default cookie name (runtimeConfig.session.name). */
export const SESSION_COOKIE = 'nuxt-session'

/** What the sealed cookie holds (nuxt-auth-utils' `UserSession` shape: `secure` never leaves the server). */
export type SessionData = {
  user: Identity
  /** The session's own random id: signing out revokes it on every instance (server/auth/revocation.ts). */
  sid: string
  /** When the session ends (the access token's exp), seconds since the epoch. */
  exp: number
  loggedInAt: number
  secure?: { idToken?: string }
}

let devPassword: string | undefined
/** The seal password: SESSION_PASSWORD (config rejects a short one in production), else a per-process dev one. */
export function sessionPassword(): string {
  const configured = config().SESSION_PASSWORD
  if (configured.length >= 32) return configured
  if (!devPassword) {
    devPassword = randomBytes(32).toString('hex')
    log.warn('SESSION_PASSWORD unset or shorter than 32 characters: using a random per-process one (sessions will not survive a restart or cross instances)')
  }
  return devPassword
}

/** Cookies are Secure in production and whenever shoppers reach us over https. */
export function secureCookies(): boolean {
  const cfg = config()
  return cfg.NODE_ENV === 'production' || cfg.PUBLIC_URL.startsWith('https:')
}

/** h3 session options, shared by sealing (sign-in) and unsealing (every signed-in request). */
export function sessionOptions(maxAgeSeconds?: number) {
  return {
    name: SESSION_COOKIE,
    password: sessionPassword(),
    maxAge: maxAgeSeconds,
    // The session lives only in the cookie; never accept it from a header.
    sessionHeader: false as const,
    cookie: { sameSite: 'lax' as const, httpOnly: true, secure: secureCookies(), path: '/' },
  }
}

type Cached = { identity: Identity, sid: string, exp: number } | 'anonymous' | 'invalid'
const unsealed = new LRUCache<string, Cached>({ max: 20_000, ttl: 60_000 })

/**
 * The session cookie's value in a Cookie header, if any, exactly as sent: the seal is only ever set
 * unquoted and needs no percent-encoding, so another spelling of it (quoted, percent-encoded) is not
 * read as the same session (it fails to unseal: UNAUTHORIZED). One session, one spelling — which
 * NGINX's per-shopper rate-limit key relies on, and the unsealed-cookie cache too.
 */
export function sessionCookieOf(cookieHeader: string | null | undefined): string | undefined {
  if (!cookieHeader || !cookieHeader.includes(SESSION_COOKIE)) return undefined
  for (const part of cookieHeader.split(';')) {
    const eq = part.indexOf('=')
    if (eq > 0 && part.slice(0, eq).trim() === SESSION_COOKIE) return part.slice(eq + 1).trim() || undefined
  }
  return undefined
}

/**
 * The identity of a sealed session cookie value. Null when the session has no user, has expired or
 * was signed out (on any instance); DomainError('UNAUTHORIZED') when the cookie was not sealed with
 * our password (tampered or forged).
 */
export async function identityOfSessionCookie(sealed: string): Promise<Identity | null> {
  const now = Date.now() / 1000
  let entry = unsealed.get(sealed)
  if (entry === undefined) {
    entry = await unsealValue(sealed)
    unsealed.set(sealed, entry)
  }
  if (entry === 'invalid') throw new DomainError('UNAUTHORIZED', 'Invalid session')
  if (entry === 'anonymous' || entry.exp <= now) return null
  if (await isSessionRevoked(entry.sid)) return null
  return entry.identity
}

/** The whole session (including `secure`), unsealed without caching: for sign-out. */
export async function readSessionData(sealed: string): Promise<Partial<SessionData> | null> {
  try {
    const session = await unsealSession(undefined as never, sessionOptions(), sealed)
    return (session.data ?? null) as Partial<SessionData> | null
  } catch {
    return null
  }
}

async function unsealValue(sealed: string): Promise<Cached> {
  if (sealed.length > 8_192) return 'invalid'
  let data: Partial<SessionData> | undefined
  try {
    const session = await unsealSession(undefined as never, sessionOptions(), sealed)
    data = session.data as Partial<SessionData> | undefined
  } catch (error) {
    // iron refuses a bad MAC or format; an expired seal ("Expired seal") is merely an old session.
    return /expired/i.test(String((error as Error)?.message)) ? 'anonymous' : 'invalid'
  }
  const user = data?.user
  // A session without an id (sealed before sign-out could revoke it) cannot be ended: it counts as none.
  if (!user || typeof user.sub !== 'string' || typeof data?.exp !== 'number' || typeof data.sid !== 'string') return 'anonymous'
  return { identity: { sub: user.sub, email: String(user.email), isAdmin: user.isAdmin === true }, sid: data.sid, exp: data.exp }
}

/** For tests: forget unsealed sessions. */
export function resetSessionCache(): void {
  unsealed.clear()
}

/** Forgets one unsealed cookie value (on sign-out). */
export function forgetSessionCookie(sealed: string): void {
  unsealed.delete(sealed)
}
