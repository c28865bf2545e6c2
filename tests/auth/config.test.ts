/**
 * Production settings of the auth layer: start-up refuses a missing or short session password, and
 * the cookies are Secure (with HttpOnly, SameSite=Lax) in production.
 */
import { afterAll, beforeAll, expect, it } from 'vitest'
import { startWeb } from '../support/processes'
import { closeTestDb, startAuthWeb, testDb, type AuthWeb } from './support'

let prod: AuthWeb | undefined

beforeAll(async () => {
  await testDb()
})
afterAll(async () => {
  await prod?.stop()
  await closeTestDb()
})

it('refuses to start in production with a missing or short SESSION_PASSWORD', async () => {
  for (const password of ['', 'too-short-for-production']) {
    await expect(startWeb({ NODE_ENV: 'production', SESSION_PASSWORD: password, NUXT_SESSION_PASSWORD: '' }))
      .rejects.toThrow(/SESSION_PASSWORD: must be at least 32 characters in production/)
  }
})

it('refuses to start with a SERVER_ID that is not 1–64 of A-Za-z0-9_.:-, naming the variable', async () => {
  for (const id of ['has space', 'x'.repeat(65)]) {
    await expect(startWeb({ SERVER_ID: id })).rejects.toThrow(/SERVER_ID: expected 1–64 of/)
  }
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
