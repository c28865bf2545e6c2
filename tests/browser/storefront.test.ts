import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Browser } from 'playwright-core'
import { hydrated, screenshots, signIn, signUp, startBrowserStack, watchedPage, type BrowserStack } from './browser'
import { procedureUrl } from '../support/api'

/*
 * The storefront in a real browser against the real stack (MySQL, Redis, Kafka, Keycloak, worker).
 * Needs the stack's env (DATABASE_URL, REDIS_URL, KAFKA_BROKERS, OIDC_ISSUER …) from `npm test`;
 * E2E_BASE_URL points at NGINX when the stack provides one, else a web instance is started here
 * (Keycloak must then accept its redirect URI, i.e. PUBLIC_URL must be that instance's address).
 */
const stackReady = Boolean(process.env.DATABASE_URL && process.env.OIDC_ISSUER)
const ADMIN = { email: 'admin@example.com', password: 'admin' }

describe.skipIf(!stackReady)('storefront in the browser', () => {
  let stack: BrowserStack | undefined
  let browser: Browser
  let base: string
  const problems: string[] = []

  beforeAll(async () => {
    stack = await startBrowserStack()
    ;({ browser, base } = stack)
  })

  afterAll(async () => {
    await stack?.stop()
  })

  async function adminCreatesCoupon(name: string, stock: number, price = '1.00') {
    const context = await browser.newContext()
    const { page, problems: seen } = await watchedPage(context)
    await signIn(page, base, ADMIN.email, ADMIN.password, '/admin/coupons/new')
    await hydrated(page)
    await page.getByLabel('Name').fill(name)
    await page.getByLabel('Description').fill(`${name}, made by the browser test`)
    await page.getByLabel('Price (EUR)').fill(price)
    await page.getByLabel('Stock').fill(String(stock))
    await page.locator('#coupon-image').setInputFiles({ name: 'pic.png', mimeType: 'image/png', buffer: tinyPng() })
    await page.getByText('Uploaded.').waitFor()
    await page.getByRole('button', { name: 'Create coupon' }).click()
    await page.waitForURL(/\/admin\/coupons\/\d+$/)
    const id = Number(new URL(page.url()).pathname.split('/').pop())
    problems.push(...seen)
    return { id, page, context }
  }

  it('lets a new shopper sign up, buy, see the PAID toast live, and find the coupon under My account', async () => {
    const { id: couponId, page: adminPage, context: adminContext } = await adminCreatesCoupon(`Browser deal ${Date.now()}`, 5)
    await screenshots(adminPage, 'admin-dashboard')
    await adminPage.goto(`${base}/admin`)
    await screenshots(adminPage, 'admin-list')
    await adminPage.goto(`${base}/admin/coupons/new`)
    await screenshots(adminPage, 'admin-new')
    await adminContext.close()

    const context = await browser.newContext()
    const { page, problems: seen } = await watchedPage(context)
    await page.goto(base)
    await screenshots(page, 'catalogue-signed-out')
    await signUp(page, base, `shopper-${Date.now()}@example.com`, 'secret-pass-1')
    const creditBefore = await page.locator('[data-test=credit]').innerText()

    // The new coupon shows in the catalogue (on whichever page its sale order puts it) once the
    // admin edit has invalidated the caches: look through the server-rendered pages.
    const card = page.locator(`a[href="/coupons/${couponId}"]`)
    await expect.poll(async () => {
      for (let n = 1; n <= 20; n++) {
        await page.goto(`${base}/?page=${n}`)
        if (await card.count()) return n
        if (!(await page.locator('a[rel=next]').count())) break
      }
      return 0
    }, { timeout: 40_000, interval: 1_000 }).toBeGreaterThan(0)
    await card.first().click()
    await hydrated(page)
    await screenshots(page, 'coupon-before-buy')

    const buy = page.locator('[data-test=buy]')
    await buy.click()
    await page.locator('.toast', { hasText: 'Payment complete' }).waitFor({ timeout: 30_000 })
    await expect.poll(() => buy.getAttribute('data-state')).toMatch(/paid|owned/)
    await screenshots(page, 'coupon-paid')

    // A second purchase of the same coupon is refused as "already yours".
    await page.reload()
    await hydrated(page)
    await expect.poll(() => page.locator('[data-test=buy]').innerText()).toMatch(/Already yours/)

    await page.getByRole('link', { name: 'My account' }).click()
    await page.locator('[data-test=orders] [data-test=order-status]', { hasText: 'Paid' }).first().waitFor()
    await expect.poll(() => page.locator('[data-test=credit]').innerText()).not.toBe(creditBefore)
    await screenshots(page, 'my-account')
    problems.push(...seen)
    await context.close()
    expect(problems).toEqual([])
  })

  it('cannot buy a sold-out coupon', async () => {
    const { id, context: adminContext } = await adminCreatesCoupon(`Sold out ${Date.now()}`, 0)
    await adminContext.close()
    const context = await browser.newContext()
    const { page, problems: seen } = await watchedPage(context)
    await signIn(page, base, 'alice@example.com', 'alice', `/coupons/${id}`)
    await hydrated(page)
    const buy = page.locator('[data-test=buy]')
    await expect.poll(() => buy.innerText()).toMatch(/Sold out/)
    expect(await buy.isDisabled()).toBe(true)
    await screenshots(page, 'coupon-sold-out')
    await page.goto(`${base}/admin`)
    await screenshots(page, 'admin-forbidden')
    await context.close()
    expect(seen.filter((p) => !/status of 403/.test(p))).toEqual([])
  })

  it('updates the sale dashboard during a burst of purchases', async () => {
    const { id, page, context } = await adminCreatesCoupon(`Burst ${Date.now()}`, 50)
    await hydrated(page)
    const paid = page.locator('[data-test=stat-paid]')
    const before = Number(await paid.innerText())
    // The burst: a few signed-in shoppers (each may hold one) buying at once through the API.
    const shoppers = await Promise.all(['alice@example.com:alice', 'bob@example.com:bob'].map(async (pair) => {
      const [email, password] = pair.split(':') as [string, string]
      const ctx = await browser.newContext()
      const p = await ctx.newPage()
      await signIn(p, base, email, password)
      return { ctx, p }
    }))
    await Promise.all(shoppers.map(({ p }) => p.evaluate(async ({ url, couponId }) => {
      await fetch(`${url}?batch=1`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ 0: { couponId } }),
      })
    }, { url: procedureUrl('', 'order.purchase'), couponId: id })))
    await expect.poll(async () => Number(await paid.innerText()), { timeout: 30_000 }).toBeGreaterThan(before)
    await screenshots(page, 'admin-dashboard-burst')
    for (const { ctx } of shoppers) await ctx.close()
    await context.close()
  })
})

/** A valid 1×1 PNG. */
function tinyPng(): Buffer {
  return Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64')
}
