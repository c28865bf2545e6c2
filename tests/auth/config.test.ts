/**
 * Production settings of the auth layer: the cookies are Secure (with HttpOnly, SameSite=Lax) in
 * production. What start-up refuses (a short session password, a bad SERVER_ID) is parsing, tested
 * in server/config.test.ts; tests/security/secrets.test.ts shows a web instance stopping on it.
 */
import { afterAll, beforeAll, expect, it } from 'vitest'
import { closeTestDb, startAuthWeb, testDb, type AuthWeb } from './support'

let prod: AuthWeb | undefined

beforeAll(async () => {
  await testDb()
})
afterAll(async () => {
  await prod?.stop()
  await closeTestDb()
})

it('sets Secure, HttpOnly, SameSite=Lax cookies in production, and redirects with PUBLIC_URL', async () => {
  prod = await startAuthWeb({ NODE_ENV: 'production' })
  const res = await fetch(`${prod.web.url}/auth/login?returnTo=/orders`, { redirect: 'manual' })
  expect(res.status).toBe(302)
  const location = new URL(res.headers.get('location')!)
  expect(location.searchParams.get('redirect_uri')).toBe(`${prod.publicUrl}/auth/keycloak/callback`)
  expect(location.searchParams.get('code_challenge_method')).toBe('S256')
  for (const p of ['state', 'nonce', 'code_challenge']) expect(location.searchParams.get(p)?.length).toBeGreaterThanOrEqual(32)
  const [flow] = res.headers.getSetCookie()
  expect(flow).toMatch(/^fs-oidc=/)
  expect(flow).toMatch(/; Secure/i)
  expect(flow).toMatch(/; HttpOnly/i)
  expect(flow).toMatch(/; SameSite=Lax/i)
  expect(flow).toMatch(/; Path=\/auth/i)
  expect(flow).toMatch(/; Max-Age=600/i)
  // a callback without the flow cookie (another browser, or forged) is refused
  const forged = await fetch(`${prod.web.url}/auth/keycloak/callback?code=abc&state=${location.searchParams.get('state')}`, { redirect: 'manual' })
  expect(forged.status).toBe(400)
  expect(forged.headers.getSetCookie().some((c) => c.startsWith('nuxt-session=') && !c.startsWith('nuxt-session=;'))).toBe(false)
  // a mismatched state with the right flow cookie is refused too
  const flowCookie = flow!.split(';')[0]!
  const wrongState = await fetch(`${prod.web.url}/auth/keycloak/callback?code=abc&state=wrong`, { headers: { cookie: flowCookie }, redirect: 'manual' })
  expect(wrongState.status).toBe(400)
  expect(wrongState.headers.getSetCookie().some((c) => c.startsWith('nuxt-session=') && !c.startsWith('nuxt-session=;'))).toBe(false)
})
