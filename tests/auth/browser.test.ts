/**
 * The whole browser journey against a real Keycloak, in headless Chromium: a new shopper registers on
 * Keycloak's page, lands back signed in, sees their starting credit, signs out, and is signed out of
 * Keycloak too (its session is gone and /auth/login asks for a password again).
 */
import { chromium, type Browser } from 'playwright-core'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { sql } from 'kysely'
import { findUserId, sessionCount, uniqueEmail } from '../support/keycloak'
import { closeTestDb, startAuthWeb, testDb, type AuthWeb } from './support'
import { procedureUrl } from '../support/api'

let app: AuthWeb
let browser: Browser

beforeAll(async () => {
  await testDb()
  app = await startAuthWeb()
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  })
})

afterAll(async () => {
  await browser?.close()
  await app?.stop()
  await closeTestDb()
})

it('register → signed in with the starting credit → sign out → signed out of Keycloak too', async () => {
  const context = await browser.newContext()
  const page = await context.newPage()
  const email = uniqueEmail('browser')
  const password = 'Browser-pw-1'
  const me = () => page.evaluate(async (url) => {
    const res = await fetch(url)
    return { status: res.status, body: await res.json() }
  }, procedureUrl('', 'user.me'))

  // Register on Keycloak's own page
  await page.goto(`${app.publicUrl}/auth/register`)
  await page.waitForSelector('#kc-register-form', { timeout: 20_000 })
  expect(page.url()).toContain('prompt=create')
  await page.fill('#email', email)
  await page.fill('#firstName', 'Brow')
  await page.fill('#lastName', 'Ser')
  await page.fill('#password', password)
  await page.fill('#password-confirm', password)
  await Promise.all([
    page.waitForURL((url) => url.href.startsWith(`${app.publicUrl}/`) && !url.pathname.startsWith('/auth/'), { timeout: 20_000 }),
    page.locator('#kc-register-form [type=submit]').click(),
  ])

  // Signed in: the session cookie is HttpOnly and Lax; user.me shows the starting credit
  const cookies = await context.cookies(app.publicUrl)
  const session = cookies.find((c) => c.name === 'nuxt-session')
  expect(session).toMatchObject({ httpOnly: true, sameSite: 'Lax' })
  expect(cookies.find((c) => c.name === 'fs-oidc')).toBeUndefined()
  const signedIn = await me()
  expect(signedIn.status, JSON.stringify(signedIn.body)).toBe(200)
  expect(signedIn.body.result.data).toMatchObject({ email, credit: 10_000, isAdmin: false })
  const { rows } = await sql<{ credit: number }>`select credit from users where email = ${email}`.execute(await testDb())
  expect(rows.map((r) => Number(r.credit))).toEqual([10_000])
  const keycloakId = await findUserId(email)
  expect(keycloakId).toBeTruthy()
  expect(await sessionCount(keycloakId!)).toBe(1)

  // Sign out: back on the shop, signed out here and at Keycloak
  await page.goto(`${app.publicUrl}/auth/logout`)
  await page.waitForURL(`${app.publicUrl}/`, { timeout: 20_000 })
  expect((await context.cookies(app.publicUrl)).find((c) => c.name === 'nuxt-session')).toBeUndefined()
  const signedOut = await me()
  expect(signedOut.status).toBe(401)
  expect(await sessionCount(keycloakId!)).toBe(0)
  // Keycloak asks for the password again instead of signing the browser straight back in
  await page.goto(`${app.publicUrl}/auth/login`)
  await page.waitForSelector('#kc-form-login', { timeout: 20_000 })
  expect(page.url()).toContain('/protocol/openid-connect/auth')
  await context.close()
})
