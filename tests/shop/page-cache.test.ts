import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { closeDb } from '../../server/db'
import { closeRedis } from '../../server/redis/client'
import { SECOND_CLEAR_MS } from '../../server/cache/pages'
import { createCouponOnSale, ensureStockLoaded } from '../support/data'
import { accessToken, createUser } from '../support/keycloak'
import { signInWithoutBrowser, startAuthWeb, type AuthWeb } from '../auth/support'
import { buyAndSettle } from './support'
import { call, procedureUrl } from '../support/api'

/*
 * Page caching (docs/architecture.md, "Page caching"): the catalogue and coupon pages are rendered once for everyone
 * into a cache shared by every instance; what differs per user comes from user.viewer. Two instances,
 * two signed-in shoppers (real session cookies), and the checks that nobody's data leaks through a cache.
 */
const stackReady = Boolean(process.env.DATABASE_URL && process.env.OIDC_ISSUER)

async function page(base: string, path: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${base}${path}`, { headers, redirect: 'manual' })
  return { status: res.status, headers: res.headers, html: await res.text() }
}

describe.skipIf(!stackReady)('cached pages', () => {
  let one: AuthWeb
  let two: AuthWeb
  let couponId: number
  const alice = { email: '', password: '', cookie: '', id: 0 }
  const bob = { email: '', password: '', cookie: '', id: 0 }

  beforeAll(async () => {
    await ensureStockLoaded()
    // One after the other: each adds its address to the realm client's redirect URIs.
    one = await startAuthWeb()
    two = await startAuthWeb()
    couponId = await createCouponOnSale({ stock: 5, price: 300, name: `Cached page ${Date.now()}` })
    // Loading its stock is a change every instance hears: each clears the page renders at once and
    // again SECOND_CLEAR_MS later, so a render made in that second is dropped and made again.
    const loadedAt = Date.now()
    for (const shopper of [alice, bob]) {
      const user = await createUser()
      Object.assign(shopper, user, { cookie: await signInWithoutBrowser(one.publicUrl, user) })
      const me = await call(one.publicUrl, 'user.me', { headers: { cookie: shopper.cookie } })
      shopper.id = me.data!.id
    }
    await buyAndSettle(couponId, alice.id, 300)
    await new Promise((r) => setTimeout(r, loadedAt + SECOND_CLEAR_MS + 250 - Date.now()))
  })

  afterAll(async () => {
    await Promise.all([one?.stop(), two?.stop()])
    await closeRedis()
    await closeDb()
  })

  it('serves one shared render of a coupon page, whoever asks, with Cache-Control and a working ETag', async () => {
    const first = await page(one.publicUrl, `/coupons/${couponId}`, { cookie: alice.cookie })
    expect(first.status).toBe(200)
    // shared caches keep the render 10 s; a browser asks again each time (a 304 while unchanged)
    expect(first.headers.get('cache-control')).toMatch(/^max-age=0, s-maxage=10\b/)
    expect(first.headers.get('set-cookie')).toBeNull()
    const etag = first.headers.get('etag')!
    expect(etag).toBeTruthy()
    // Bob on the other instance, and a visitor: the very same bytes.
    const other = await page(two.publicUrl, `/coupons/${couponId}`, { cookie: bob.cookie })
    const visitor = await page(two.publicUrl, `/coupons/${couponId}`)
    // When they differ, whether the second instance rendered the page again (a later Last-Modified).
    const rendered = `rendered at ${first.headers.get('last-modified')} and ${other.headers.get('last-modified')}`
    expect(other.headers.get('etag'), rendered).toBe(etag)
    expect(visitor.html).toBe(first.html)
    for (const html of [first.html, other.html]) {
      expect(html).not.toContain(alice.email)
      expect(html).not.toContain(bob.email)
    }
    const unchanged = await fetch(`${two.publicUrl}/coupons/${couponId}`, { headers: { 'if-none-match': etag } })
    expect(unchanged.status).toBe(304)
  })

  it('keeps per-user answers out of every cache: user.viewer and My account are per shopper and no-store', async () => {
    const [a, b, anon] = await Promise.all([
      call(two.publicUrl, 'user.viewer', { input: { couponId }, headers: { cookie: alice.cookie } }),
      call(two.publicUrl, 'user.viewer', { input: { couponId }, headers: { cookie: bob.cookie } }),
      call(two.publicUrl, 'user.viewer', { input: { couponId } }),
    ])
    expect(a.data).toMatchObject({ me: { email: alice.email }, orders: [{ status: 'PAID' }], stock: 4 })
    expect(b.data).toMatchObject({ me: { email: bob.email }, orders: [] })
    expect(anon.data).toEqual({ me: null, orders: [], stock: 4 })
    const res = await fetch(procedureUrl(two.publicUrl, 'user.viewer'), { headers: { cookie: bob.cookie } })
    expect(res.headers.get('cache-control')).toBe('no-store')

    for (const [who, other] of [[alice, bob], [bob, alice]] as const) {
      const account = await page(one.publicUrl, '/orders', { cookie: who.cookie })
      expect(account.status).toBe(200)
      expect(account.headers.get('cache-control')).toBe('private, no-store')
      expect(account.html).toContain(who.email)
      expect(account.html).not.toContain(other.email)
    }
  })

  it('shows an admin edit on every instance within 2 s', async () => {
    const admin = await accessToken(await createUser({ roles: ['admin'] }))
    // Both instances hold a render of the coupon page and of the catalogue.
    for (const base of [one.publicUrl, two.publicUrl]) {
      await page(base, `/coupons/${couponId}`)
      await page(base, '/')
    }
    const name = `Renamed ${Date.now()}`
    const edited = await call(one.publicUrl, 'admin.updateCoupon', { mutation: true, token: admin, input: { id: couponId, name } })
    expect(edited.status).toBe(200)
    const deadline = Date.now() + 2_000
    const seen = new Set<string>()
    while (seen.size < 2 && Date.now() < deadline) {
      for (const base of [one.publicUrl, two.publicUrl]) {
        if ((await page(base, `/coupons/${couponId}`)).html.includes(name)) seen.add(base)
      }
      await new Promise((r) => setTimeout(r, 100))
    }
    expect([...seen].sort()).toEqual([one.publicUrl, two.publicUrl].sort())
  })

  it('answers each cached page at one URL, and marks build assets immutable', async () => {
    expect(await page(one.publicUrl, '/?utm_source=x')).toMatchObject({ status: 302 })
    expect((await fetch(`${one.publicUrl}/?page=1`, { redirect: 'manual' })).headers.get('location')).toBe('/')
    expect((await fetch(`${one.publicUrl}/coupons/0${couponId}?x=1`, { redirect: 'manual' })).headers.get('location')).toBe(`/coupons/${couponId}`)
    const home = await page(one.publicUrl, '/')
    const asset = /\/_nuxt\/[\w.-]+\.js/.exec(home.html)?.[0]
    expect(asset).toBeTruthy()
    const res = await fetch(`${one.publicUrl}${asset}`)
    expect(res.headers.get('cache-control')).toContain('immutable')
  })
})
