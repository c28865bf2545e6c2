/**
 * The browser session cookie, against a real Keycloak and the built app: anonymous requests never get
 * a Set-Cookie (docs/decisions.md, "No session for anonymous visitors"), the sign-in sets a HttpOnly, SameSite=Lax cookie whose
 * lifetime follows the token's, a tampered or forged cookie is UNAUTHORIZED and changes nothing,
 * cross-site POSTs with the cookie are refused, and the bearer token decides when both are present.
 */
import { sealSession } from 'h3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { accessToken, createUser, type TestUser } from '../support/keycloak'
import { closeTestDb, rowCounts, signInWithoutBrowser, startAuthWeb, testDb, type AuthWeb } from './support'
import { onUpdateAnswer, wsUpgradeStatus } from './ws'
import { call, procedureUrl, request } from '../support/api'

let app: AuthWeb
let user: TestUser
let cookie: string

beforeAll(async () => {
  await testDb()
  app = await startAuthWeb()
  user = await createUser()
  cookie = await signInWithoutBrowser(app.publicUrl, user)
})

afterAll(async () => {
  await app?.stop()
  await closeTestDb()
})

describe('anonymous requests', () => {
  it('never get a Set-Cookie: catalogue page, tRPC queries (batched and not), the session endpoint', async () => {
    for (const path of [
      '/',
      `${procedureUrl('', 'coupon.list')}?batch=1&input=${encodeURIComponent(JSON.stringify({ 0: { page: 1 } }))}`,
      procedureUrl('', 'coupon.list'),
      '/api/_auth/session',
      '/healthz',
    ]) {
      const res = await fetch(`${app.web.url}${path}`, { redirect: 'manual' })
      await res.arrayBuffer()
      expect({ path, status: res.status < 500, setCookie: res.headers.getSetCookie() }).toEqual({ path, status: true, setCookie: [] })
    }
  })
})

describe('the session cookie', () => {
  it('is HttpOnly, SameSite=Lax, scoped to /, and expires with the access token', async () => {
    // sign in again to look at the Set-Cookie line itself
    const res = await fetch(`${app.publicUrl}/api/_auth/session`, { headers: { cookie } })
    expect(await res.json()).toMatchObject({ user: { email: user.email, isAdmin: false } })
    expect(res.headers.getSetCookie()).toEqual([])
    const value = decodeURIComponent(cookie.slice('nuxt-session='.length))
    expect(value.length).toBeLessThan(4000)
    // the seal carries its own expiry (iron "expiration" field: ~ the token's one hour in the dev realm)
    const expiry = Number(value.split('*')[5])
    expect(expiry).toBeGreaterThan(Date.now() + 50 * 60_000)
    expect(expiry).toBeLessThan(Date.now() + 61 * 60_000)
  })

  it('signs in on tRPC and /ws, and signed-in requests get no Set-Cookie either', async () => {
    const me = await call(app.web.url, 'user.me', { batch: true, cookie })
    expect(me.status, JSON.stringify(me.body)).toBe(200)
    expect(me.data).toMatchObject({ email: user.email, credit: 10_000 })
    expect(me.headers.getSetCookie()).toEqual([])
    const page = await fetch(`${app.web.url}/`, { headers: { cookie } })
    await page.text()
    expect(page.headers.getSetCookie()).toEqual([])
    expect(await wsUpgradeStatus(app.web.url, '', { cookie })).toBe(101)
    expect(await onUpdateAnswer(app.web.url, undefined, { cookie })).toBe('started')
  })

  it('tampered or forged: UNAUTHORIZED on every procedure and /ws, nothing changes', async () => {
    const value = decodeURIComponent(cookie.slice('nuxt-session='.length))
    const i = Math.floor(value.length / 2)
    const flipped = value.slice(0, i) + (value[i] === 'A' ? 'B' : 'A') + value.slice(i + 1)
    // a well-formed seal made with another password, claiming to be an admin
    const forged = await sealSession({ context: { sessions: { 'nuxt-session': { id: 'x', createdAt: Date.now(), data: { user: { sub: 'forged', email: 'forged@example.com', isAdmin: true }, exp: Date.now() / 1000 + 3600 } } } } } as never, { name: 'nuxt-session', password: 'another-password-that-is-long-enough-1234' })
    const before = await rowCounts()
    for (const [name, bad] of [['flipped', flipped], ['forged', forged], ['garbage', 'Fe26.2**nonsense']] as const) {
      const c = `nuxt-session=${encodeURIComponent(bad)}`
      for (const { path, send } of [
        request('user.me', { batch: true }),
        request('coupon.list', { batch: true, input: { page: 1 } }),
        request('order.purchase', { batch: true, mutation: true, input: { couponId: 1 } }),
        request('admin.grantCredit', { batch: true, mutation: true, input: { userId: 1, amount: 5 } }),
      ]) {
        const res = await send(app.web.url, { cookie: c, headers: { origin: app.publicUrl } })
        expect({ name, path, status: res.status, reason: res.reason }).toEqual({ name, path, status: 401, reason: 'UNAUTHORIZED' })
      }
      expect({ name, ws: await wsUpgradeStatus(app.web.url, '', { cookie: c }) }).toEqual({ name, ws: 401 })
      // the session endpoint clears it instead of failing the page
      const s = await fetch(`${app.web.url}/api/_auth/session`, { headers: { cookie: c } })
      expect(await s.json()).toEqual({})
      expect(s.headers.getSetCookie().join()).toMatch(/nuxt-session=;/)
    }
    expect(await rowCounts()).toEqual(before)
  })

  it('cross-site POSTs with the cookie are refused; same-origin ones and bearer tokens are not', async () => {
    const purchase = (headers: Record<string, string>, auth: { cookie?: string, token?: string } = { cookie }) =>
      call(app.web.url, 'order.purchase', { batch: true, mutation: true, input: { couponId: 999_999 }, headers, ...auth })
    const before = await rowCounts()
    const crossSite: Record<string, string>[] = [
      { origin: 'https://evil.example' },
      { origin: 'null' },
      { 'sec-fetch-site': 'cross-site' },
      { 'sec-fetch-site': 'same-site', origin: 'http://shop.localhost:1' },
      { origin: app.publicUrl, 'sec-fetch-site': 'cross-site' },
    ]
    for (const headers of crossSite) {
      const res = await purchase(headers)
      expect({ headers, status: res.status, reason: res.reason }).toEqual({ headers, status: 403, reason: 'FORBIDDEN' })
    }
    // the cross-site check also covers the sign-out form and the socket
    const logout = await fetch(`${app.web.url}/auth/logout`, { method: 'POST', headers: { cookie, origin: 'https://evil.example' }, redirect: 'manual' })
    expect(logout.status).toBe(403)
    const crossSiteLink = await fetch(`${app.web.url}/auth/logout`, {
      headers: { cookie, 'sec-fetch-site': 'cross-site' },
      redirect: 'manual',
    })
    expect({
      status: crossSiteLink.status,
      location: crossSiteLink.headers.get('location'),
      setCookie: crossSiteLink.headers.getSetCookie(),
    }).toEqual({ status: 302, location: `${app.publicUrl}/`, setCookie: [] })
    expect(await wsUpgradeStatus(app.web.url, '', { cookie, origin: 'https://evil.example' })).toBe(403) // FORBIDDEN, as the same request to tRPC
    expect(await rowCounts()).toEqual(before)

    // same origin (through the proxy, as a browser on PUBLIC_URL would send it): gets past auth
    const same = await purchase({ origin: app.publicUrl, 'sec-fetch-site': 'same-origin' })
    expect(['FORBIDDEN', 'UNAUTHORIZED']).not.toContain(same.reason)
    // a bearer token is not subject to the check (no browser attaches it on its own)
    const bearer = await purchase({ origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' }, { token: await accessToken(user) })
    expect(['FORBIDDEN', 'UNAUTHORIZED']).not.toContain(bearer.reason)
    // cross-site GET queries (top-level navigations) are fine
    const query = await call(app.web.url, 'user.me', { batch: true, cookie, headers: { 'sec-fetch-site': 'cross-site' } })
    expect(query.status).toBe(200)
  })

  it('the bearer token decides when both are present', async () => {
    const other = await createUser()
    const token = await accessToken(other)
    const me = await call(app.web.url, 'user.me', { batch: true, cookie, token })
    expect(me.data?.email).toBe(other.email)
    const bad = await call(app.web.url, 'user.me', { batch: true, cookie, token: 'forged.token.value' })
    expect(bad.status).toBe(401)
  })
})
