import { createPublicKey, verify, type KeyObject } from 'node:crypto'
import { LRUCache } from 'lru-cache'
import { config } from '../config'
import { DomainError } from '../domain/errors'
import { log } from '../observability/log'
import { internalUrl } from './issuer'
import type { Identity } from './types'

/**
 * Verification of Keycloak access tokens (docs/architecture.md, "Identity"): RS256 only, issuer = OIDC_ISSUER,
 * azp = one of the realm's two clients, not expired. The signature is checked with node:crypto
 * (~45 µs, against ~174 µs for jose's jwtVerify) and a verified token is remembered until it
 * expires, so a shopper's burst of purchases pays the RSA check once.
 * Nothing here imports Nuxt or Nitro.
 */

export interface VerifiedToken extends Identity {
  /** Expiry, seconds since the epoch. */
  exp: number
}

/** Tolerated clock difference between Keycloak and this process, in seconds. */
export const CLOCK_SKEW_SECONDS = 5
/** A token id we do not know triggers at most one JWKS fetch per this many milliseconds. */
const JWKS_REFRESH_MIN_INTERVAL_MS = 10_000
/** Before any key set was loaded, a failed fetch is tried again at most this often (tokens meanwhile: TRY_AGAIN_LATER). */
const JWKS_RETRY_AFTER_FAILURE_MS = 1_000

const BASE64URL = /^[A-Za-z0-9_-]+$/
const unauthorized = (why: string) => new DomainError('UNAUTHORIZED', `Invalid access token: ${why}`)

// Verified tokens (an entry never outlives the token's exp), found by the last characters of their
// signature and matched against the whole token: keyed by the whole ~1 KB string, each lookup hashed
// a request's fresh copy of it from scratch (~2 µs, on every signed-in call). A token that pairs a
// copied signature with other content finds the entry, fails the match, and is verified like any other.
const verified = new LRUCache<string, { token: string, identity: VerifiedToken }>({ max: 50_000 })
const CACHE_KEY_CHARS = 32
const cacheKey = (token: string) => token.slice(-CACHE_KEY_CHARS)
// Tokens whose signature failed, so a client repeating a forged token does not pay the RSA check each time.
const refused = new LRUCache<string, string>({ max: 5_000, ttl: 60_000 })

// ---------------------------------------------------------------------------------------------
// Keys

interface KeySet { keys: Map<string, KeyObject>, fetchedAt: number }
let keySet: KeySet | undefined
let inflight: Promise<KeySet> | undefined
/** When the last fetch started, whether it worked or not: the throttle counts failed fetches too. */
let lastAttemptAt = Number.NEGATIVE_INFINITY
let discovered: { issuer: string, jwksUri: string } | undefined

function issuer(): string {
  return config().OIDC_ISSUER
}

type Json = Record<string, unknown>
interface Jwk { kty?: string, use?: string, alg?: string, kid?: unknown, n?: string, e?: string }
interface Claims {
  iss?: unknown, sub?: unknown, azp?: unknown, typ?: unknown, exp?: unknown, nbf?: unknown, iat?: unknown
  email?: unknown, preferred_username?: unknown, realm_access?: { roles?: unknown }
}

async function fetchJson(url: string): Promise<Json> {
  // Well inside a request's 5 s: a token waiting on this fetch is answered within it either way.
  const res = await fetch(internalUrl(url), { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(2_500) })
  if (!res.ok) throw new Error(`${url} answered ${res.status}`)
  return await res.json() as Json
}

async function jwksUri(): Promise<string> {
  if (discovered?.issuer === issuer()) return discovered.jwksUri
  const doc = await fetchJson(`${issuer().replace(/\/$/, '')}/.well-known/openid-configuration`)
  if (typeof doc.jwks_uri !== 'string') throw new Error('discovery document has no jwks_uri')
  discovered = { issuer: issuer(), jwksUri: doc.jwks_uri }
  return doc.jwks_uri
}

async function loadKeys(): Promise<KeySet> {
  const doc = await fetchJson(await jwksUri())
  const keys = new Map<string, KeyObject>()
  for (const jwk of (Array.isArray(doc.keys) ? doc.keys : []) as Jwk[]) {
    if (jwk.kty !== 'RSA' || (jwk.use && jwk.use !== 'sig') || (jwk.alg && jwk.alg !== 'RS256') || typeof jwk.kid !== 'string') continue
    try {
      keys.set(jwk.kid, createPublicKey({ key: { kty: jwk.kty, n: jwk.n, e: jwk.e }, format: 'jwk' }))
    } catch { /* a malformed key is skipped */ }
  }
  return { keys, fetchedAt: Date.now() }
}

/** (Re)loads the realm's signing keys, one fetch at a time. */
export function refreshKeys(): Promise<KeySet> {
  if (!inflight) {
    lastAttemptAt = Date.now()
    inflight = loadKeys()
      .then((ks) => (keySet = ks))
      .finally(() => { inflight = undefined })
  }
  return inflight
}

// The client sees no detail (the error names internal addresses); the log has it.
const keysUnavailable = () => new DomainError('TRY_AGAIN_LATER', 'The identity provider is unavailable, try again', 1)

async function keyFor(kid: string): Promise<KeyObject> {
  let ks = keySet
  if (!ks) {
    if (!inflight && Date.now() - lastAttemptAt < JWKS_RETRY_AFTER_FAILURE_MS) throw keysUnavailable()
    ks = await refreshKeys().catch((error) => {
      log.warn('cannot load the realm signing keys', { error })
      throw keysUnavailable()
    })
  }
  let key = ks.keys.get(kid)
  // An unknown kid may mean the realm rotated its keys: refetch, but not more often than the interval
  // (counted from the last attempt, so a realm that is down is not asked again for every token);
  // requests arriving while that fetch runs wait for it.
  if (!key && (inflight || Date.now() - lastAttemptAt >= JWKS_REFRESH_MIN_INTERVAL_MS)) {
    ks = await refreshKeys().catch(() => ks!)
    key = ks.keys.get(kid)
  }
  if (!key) throw unauthorized('unknown signing key')
  return key
}

// ---------------------------------------------------------------------------------------------
// Tokens

function decodePart(part: string): Json | undefined {
  try {
    return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'))
  } catch {
    return undefined
  }
}

function allowedParties(): Set<string> {
  const cfg = config()
  return new Set([cfg.OIDC_WEB_CLIENT_ID, cfg.OIDC_CLI_CLIENT_ID])
}

function identityOf(claims: Claims & { sub: string, exp: number }): VerifiedToken {
  const roles: unknown = claims.realm_access?.roles
  const email = typeof claims.email === 'string' && claims.email ? claims.email : claims.preferred_username
  if (typeof email !== 'string' || !email) throw unauthorized('no email')
  return {
    sub: claims.sub,
    email: email.toLowerCase(),
    isAdmin: Array.isArray(roles) && roles.includes('admin'),
    exp: claims.exp,
  }
}

function checkClaims(claims: Claims | undefined, nowSeconds: number): asserts claims is Claims & { sub: string, exp: number } {
  if (!claims || typeof claims !== 'object') throw unauthorized('malformed claims')
  if (claims.iss !== issuer()) throw unauthorized('wrong issuer')
  if (typeof claims.exp !== 'number' || claims.exp + CLOCK_SKEW_SECONDS <= nowSeconds) throw unauthorized('expired')
  if (typeof claims.nbf === 'number' && claims.nbf - CLOCK_SKEW_SECONDS > nowSeconds) throw unauthorized('not yet valid')
  if (typeof claims.iat === 'number' && claims.iat - CLOCK_SKEW_SECONDS > nowSeconds) throw unauthorized('issued in the future')
  if (typeof claims.azp !== 'string' || !allowedParties().has(claims.azp)) throw unauthorized('not issued to this application')
  // Keycloak marks access tokens typ=Bearer; ID and refresh tokens (typ ID / Refresh) are not accepted.
  if (claims.typ !== undefined && claims.typ !== 'Bearer') throw unauthorized('not an access token')
  if (typeof claims.sub !== 'string' || !claims.sub) throw unauthorized('no subject')
}

/**
 * What verifyAccessToken would answer for a token this process verified before, without waiting:
 * who it proves, or DomainError('UNAUTHORIZED') once it has expired; undefined for a token not
 * verified here yet (verifyAccessToken checks it). A signed-in call's usual case, answered in the
 * same turn as the request (a sold-out storm's refusals are mostly this and the answer).
 */
export function rememberedAccessToken(token: string): VerifiedToken | undefined {
  const key = cacheKey(token)
  const hit = verified.get(key)
  if (hit?.token !== token) return undefined
  if (hit.identity.exp + CLOCK_SKEW_SECONDS > Date.now() / 1000) return hit.identity
  verified.delete(key)
  throw unauthorized('expired')
}

/**
 * Verifies a Keycloak access token and returns who it proves.
 * Throws DomainError('UNAUTHORIZED') for any invalid token, DomainError('TRY_AGAIN_LATER') when the
 * realm's keys cannot be loaded.
 */
export async function verifyAccessToken(token: string): Promise<VerifiedToken> {
  const hit = rememberedAccessToken(token)
  if (hit) return hit
  const now = Date.now() / 1000
  const key = cacheKey(token)
  const why = refused.get(token)
  if (why) throw unauthorized(why)
  try {
    const result = await verifyUncached(token, now)
    verified.set(key, { token, identity: result }, { ttl: Math.max(1, (result.exp + CLOCK_SKEW_SECONDS - now) * 1000) })
    return result
  } catch (error) {
    // Only the expensive refusal is remembered; an unknown key id must stay retryable after rotation.
    if (error instanceof DomainError && error.message.endsWith('bad signature')) refused.set(token, 'bad signature')
    throw error
  }
}

async function verifyUncached(token: string, now: number): Promise<VerifiedToken> {
  if (token.length > 16_384) throw unauthorized('too long')
  const parts = token.split('.')
  if (parts.length !== 3 || !parts[2]) throw unauthorized('malformed')
  // One spelling per signature: padding, base64 instead of base64url or set unused bits decode to the
  // same bytes, and would let one token be respelled into endless "new" tokens (each a fresh rate-limit
  // key at NGINX, a fresh RSA check and cache entry here).
  if (!BASE64URL.test(parts[2]) || Buffer.from(parts[2], 'base64url').toString('base64url') !== parts[2]) {
    throw unauthorized('malformed signature')
  }
  const header = decodePart(parts[0]!)
  if (!header || header.alg !== 'RS256') throw unauthorized('algorithm not allowed')
  if (typeof header.kid !== 'string') throw unauthorized('no key id')
  if (header.crit !== undefined) throw unauthorized('unsupported critical header')
  const claims = decodePart(parts[1]!) as Claims | undefined
  // Cheap checks first: a token of another issuer or client never reaches the RSA check.
  checkClaims(claims, now)
  const key = await keyFor(header.kid)
  const signature = Buffer.from(parts[2]!, 'base64url')
  const ok = verify('RSA-SHA256', Buffer.from(`${parts[0]}.${parts[1]}`), key, signature)
  if (!ok) throw unauthorized('bad signature')
  return identityOf(claims)
}

/** For tests and benchmarks: forget cached tokens and keys. */
export function resetTokenCaches(): void {
  verified.clear()
  refused.clear()
  keySet = undefined
  discovered = undefined
  lastAttemptAt = Number.NEGATIVE_INFINITY
}
