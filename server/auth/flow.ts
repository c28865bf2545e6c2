import { createCipheriv, createDecipheriv, createHash, randomBytes, randomUUID } from 'node:crypto'
import type { H3Event } from 'h3'
import { deleteCookie, getCookie, getQuery, getRequestHeader, sendRedirect, setCookie, setResponseHeader } from 'h3'
import { config } from '../config'
import type { Reason } from '../domain/errors'
import { refuse } from '../trpc/errors'
import { isCrossSite } from './csrf'
import { verifyAccessToken } from './jwt'
import { client, oidcClient, postLogoutRedirectUri, redirectUri } from './oidc'
import { revokeSession } from './revocation'
import {
  forgetSessionCookie, readSessionData, SESSION_COOKIE, secureCookies, sessionCookieOf, sessionOptions, sessionPassword, type SessionData,
} from './session'
import { log } from '../observability/log'

/**
 * Browser sign-in, sign-up and sign-out against Keycloak (authorization code flow + PKCE, state, nonce).
 * The PKCE verifier, state and nonce wait for the callback in a short-lived, HttpOnly, encrypted cookie.
 * Every redirect is built from PUBLIC_URL (the web instances sit behind NGINX).
 */

const FLOW_COOKIE = 'fs-oidc'
const FLOW_MAX_AGE_SECONDS = 600
/** An ID token larger than this is left out of the session cookie (sign-out then uses client_id). */
const MAX_ID_TOKEN_IN_SESSION = 2_000

interface Flow { verifier: string, state: string, nonce: string, returnTo: string, expiresAt: number }

function flowKey(): Buffer {
  return createHash('sha256').update('flash-sale:oidc-flow:').update(sessionPassword()).digest()
}

function sealFlow(flow: Flow): string {
  const iv = randomBytes(12)
  const cipher = createCipheriv('aes-256-gcm', flowKey(), iv)
  const body = Buffer.concat([cipher.update(JSON.stringify(flow), 'utf8'), cipher.final()])
  return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url')
}

function unsealFlow(value: string | undefined): Flow | undefined {
  if (!value) return undefined
  try {
    const raw = Buffer.from(value, 'base64url')
    const decipher = createDecipheriv('aes-256-gcm', flowKey(), raw.subarray(0, 12))
    decipher.setAuthTag(raw.subarray(12, 28))
    const flow = JSON.parse(Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8')) as Flow
    return flow.expiresAt > Date.now() ? flow : undefined
  } catch {
    return undefined
  }
}

const flowCookieOptions = () => ({ httpOnly: true, sameSite: 'lax' as const, secure: secureCookies(), path: '/auth' })

// Control characters (which URL parsing strips, so `/\t/evil.example` becomes `//evil.example`) and
// backslashes (which browsers read as slashes).
const unsafeInPath = (value: string) => value.includes('\\') || [...value].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f)

/**
 * A local path to come back to after sign-in, checked the way the browser will read it: parsed against
 * PUBLIC_URL it must stay on PUBLIC_URL's origin, keep a single leading slash and not point into
 * /auth/. Anything else is `/`.
 */
export function safeReturnTo(value: unknown): string {
  if (typeof value !== 'string' || !value.startsWith('/') || unsafeInPath(value)) return '/'
  const base = new URL(config().PUBLIC_URL)
  let url: URL
  try {
    url = new URL(value, base)
  } catch {
    return '/'
  }
  if (url.origin !== base.origin || url.pathname.startsWith('//') || url.pathname.startsWith('/auth/')) return '/'
  return `${url.pathname}${url.search}${url.hash}`
}

/** PUBLIC_URL's origin followed by a path of safeReturnTo (never parsed again, so never another host). */
function publicUrl(path: string): string {
  return `${new URL(config().PUBLIC_URL).origin}${safeReturnTo(path)}`
}

function noStore(event: H3Event) {
  setResponseHeader(event, 'cache-control', 'no-store')
}

/**
 * A refused sign-in step: the one refusal body (server/trpc/errors.ts), which a browser gets as a short
 * page with the same message and a way on; scripts get the JSON.
 */
function refusePage(event: H3Event, reason: Reason, message: string, next: { href: string, text: string }) {
  const body = refuse(event, reason, message)
  if (!/text\/html/.test(getRequestHeader(event, 'accept') ?? '')) return body
  setResponseHeader(event, 'content-type', 'text/html; charset=utf-8')
  return `<!doctype html><title>${message}</title><p>${message}. <a href="${next.href}">${next.text}</a>.</p>`
}

const unavailable = (event: H3Event) =>
  refusePage(event, 'TRY_AGAIN_LATER', 'Sign-in is unavailable for a moment', { href: '/', text: 'Back to the shop' })

/** Keycloak's discovery document, or undefined (logged) when Keycloak cannot be reached. */
async function oidcOrUndefined() {
  try {
    return await oidcClient()
  } catch (error) {
    log.warn('Keycloak unreachable for sign-in', { error })
    return undefined
  }
}

/** GET /auth/login and /auth/register: off to Keycloak's sign-in (or registration) page. */
export async function startSignIn(event: H3Event, options: { register?: boolean } = {}) {
  noStore(event)
  const oidc = await oidcOrUndefined()
  if (!oidc) return unavailable(event)
  const flow: Flow = {
    verifier: client.randomPKCECodeVerifier(),
    state: client.randomState(),
    nonce: client.randomNonce(),
    returnTo: safeReturnTo(getQuery(event).returnTo),
    expiresAt: Date.now() + FLOW_MAX_AGE_SECONDS * 1000,
  }
  const params: Record<string, string> = {
    redirect_uri: redirectUri(),
    scope: 'openid email profile',
    response_type: 'code',
    code_challenge: await client.calculatePKCECodeChallenge(flow.verifier),
    code_challenge_method: 'S256',
    state: flow.state,
    nonce: flow.nonce,
  }
  if (options.register) params.prompt = 'create'
  setCookie(event, FLOW_COOKIE, sealFlow(flow), { ...flowCookieOptions(), maxAge: FLOW_MAX_AGE_SECONDS })
  return sendRedirect(event, client.buildAuthorizationUrl(oidc, params).href, 302)
}

/** GET /auth/keycloak/callback: checks state, nonce and PKCE, then seals the session cookie. */
export async function finishSignIn(event: H3Event) {
  noStore(event)
  const flow = unsealFlow(getCookie(event, FLOW_COOKIE))
  deleteCookie(event, FLOW_COOKIE, flowCookieOptions())
  const query = getQuery(event)
  if (query.error) {
    // The shopper cancelled on Keycloak's page (or Keycloak refused): back to the shop, signed out.
    return sendRedirect(event, publicUrl(flow?.returnTo ?? '/'), 302)
  }
  if (!flow) return refusePage(event, 'INVALID_INPUT', 'Your sign-in took too long or was started in another browser', { href: '/auth/login', text: 'Sign in again' })
  const oidc = await oidcOrUndefined()
  if (!oidc) return unavailable(event)
  // The URL Keycloak redirected the browser to, as the browser saw it (behind NGINX).
  const currentUrl = new URL(event.path, config().PUBLIC_URL)
  let tokens: Awaited<ReturnType<typeof client.authorizationCodeGrant>>
  let token: Awaited<ReturnType<typeof verifyAccessToken>>
  try {
    tokens = await client.authorizationCodeGrant(oidc, currentUrl, {
      pkceCodeVerifier: flow.verifier,
      expectedState: flow.state,
      expectedNonce: flow.nonce,
      idTokenExpected: true,
    })
    // the access token passes the same checks as any bearer token, and names the ID token's subject
    token = await verifyAccessToken(tokens.access_token)
    if (tokens.claims()?.sub !== token.sub) throw new Error('ID token and access token name different subjects')
  } catch (error) {
    log.warn('sign-in callback refused', { error })
    return refusePage(event, 'INVALID_INPUT', 'Sign-in could not be completed', { href: '/auth/login', text: 'Try again' })
  }
  const now = Math.floor(Date.now() / 1000)
  const maxAge = Math.max(60, token.exp - now)
  const idToken = tokens.id_token && tokens.id_token.length <= MAX_ID_TOKEN_IN_SESSION ? tokens.id_token : undefined
  const data: SessionData = {
    user: { sub: token.sub, email: token.email, isAdmin: token.isAdmin },
    sid: randomUUID(),
    exp: token.exp,
    loggedInAt: now,
    secure: idToken ? { idToken } : {},
  }
  await replaceUserSession(event, data, sessionOptions(maxAge))
  return sendRedirect(event, publicUrl(flow.returnTo), 302)
}

/** /auth/logout: ends the session on every instance, clears its cookie, then ends the Keycloak session too. */
export async function signOut(event: H3Event) {
  noStore(event)
  // A link or image on another site must not sign the shopper out (POSTs are refused by the csrf middleware).
  const headers = event.node.req.headers
  if (isCrossSite(headers.origin, headers['sec-fetch-site'] as string | undefined)) return sendRedirect(event, publicUrl('/'), 302)
  const sealed = sessionCookieOf(event.node.req.headers.cookie)
  const data = sealed ? await readSessionData(sealed) : null
  if (typeof data?.sid === 'string' && typeof data.exp === 'number') {
    // Without Redis the cookie is still cleared here; a copy of it lives on until it expires (logged).
    await revokeSession(data.sid, data.exp).catch((error) => log.error('session revocation failed', { error }))
  }
  if (sealed) forgetSessionCookie(sealed)
  deleteCookie(event, SESSION_COOKIE, sessionOptions().cookie)
  let target = postLogoutRedirectUri()
  try {
    const oidc = await oidcClient()
    const params: Record<string, string> = { post_logout_redirect_uri: postLogoutRedirectUri(), client_id: config().OIDC_WEB_CLIENT_ID }
    const idToken = (data as SessionData | null)?.secure?.idToken
    if (idToken) params.id_token_hint = idToken
    target = client.buildEndSessionUrl(oidc, params).href
  } catch (error) {
    log.warn('cannot reach Keycloak for sign-out', { error })
  }
  return sendRedirect(event, target, 302)
}
