/**
 * What a shopper sees is true, in Chromium through NGINX with the HTTP cache on:
 * - coming back to a page the browser holds: the sign-up round trip revalidates the storefront (a
 *   conditional GET answered 304), and the page must still work (styles, script, images) and show the
 *   new shopper signed in — twice in a row in one browser. A 304 whose headers differ from the 200's is
 *   merged into the held page: NGINX's strict fallback CSP on it used to block every script, style and
 *   image;
 * - a purchase whose outcome the shop could not know in time (OUTCOME_UNKNOWN: the instance paused
 *   after reserving, past the purchase deadline): the Buy button looks for the shopper's order and
 *   shows it, never "Try again".
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import type { Browser, Page } from 'playwright-core'
import { openStack } from '../../scripts/lib/stack.mjs'
import { closeDb, db } from '../../server/db'
import { invalidateCoupon } from '../../server/domain/coupons/catalogue'
import { closeRedis } from '../../server/redis/client'
import { createCouponOnSale } from '../support/data'
import { allowWebAddress, uniqueEmail } from '../support/keycloak'
import { PURCHASE_DEADLINE_MS } from '../../server/domain/orders/purchase'
import { freePort, startWeb, startWorker, type Proc } from '../support/processes'
import { hydrated, launchBrowser, signUp, watchedPage } from './browser'

let web: Proc
let worker: Proc
let couponId: number
const failpoints = mkdtempSync(join(tmpdir(), 'browser-failpoints-'))
let nginx: { url: string, prefix: string, stop: () => Promise<void> }
let browser: Browser
let base: string

beforeAll(async () => {
  const port = await freePort()
  base = `http://localhost:${port}`
  await allowWebAddress(base)
  // the first purchase on this instance pauses after its reserve, past the purchase deadline
  ;[web, worker] = await Promise.all([
    startWeb({ PUBLIC_URL: base, FLASH_SALE_FAILPOINTS: `web.after-reserve=pause:${PURCHASE_DEADLINE_MS + 1_500}*1`, FLASH_SALE_FAILPOINT_DIR: failpoints }),
    startWorker(),
  ])
  nginx = await openStack().startNginx({ name: 'nginx-browser-answers', port, upstreams: [web.port] })
  browser = await launchBrowser()
  // a card with a picture, first on the storefront (the catalogue is ordered by sale start)
  couponId = await createCouponOnSale({ stock: 5 })
  await db()
    .updateTable('coupons')
    .set({ image_url: '/images/demo/bakery.svg', sale_starts_at: new Date('2000-01-01T00:00:00Z') })
    .where('id', '=', couponId)
    .execute()
  await invalidateCoupon(couponId)
})

afterAll(async () => {
  await browser?.close()
  await nginx?.stop()
  await Promise.all([web?.stop(), worker?.stop()])
  rmSync(failpoints, { recursive: true, force: true })
  await closeRedis()
  await closeDb()
})

/** What a working page shows: its stylesheet applied, its script run (hydrated), its pictures in view drawn. */
async function pageWorks(page: Page) {
  await hydrated(page)
  const look = () => page.evaluate(() => {
    const inView = [...document.images].filter((img) => img.getBoundingClientRect().top < window.innerHeight)
    return {
      styled: getComputedStyle(document.body).fontFamily.includes('system-ui'),
      pictures: inView.filter((img) => img.complete && img.naturalWidth > 0).length,
      notDrawn: inView.filter((img) => !img.complete || img.naturalWidth === 0).map((img) => img.src),
    }
  })
  await expect.poll(async () => (await look()).notDrawn, { timeout: 10_000 }).toEqual([])
  return await look()
}

it('signs up two new shoppers one after the other in one browser, each landing signed in on a working (revalidated) page', async () => {
  const context = await browser.newContext()
  const { page, problems } = await watchedPage(context)

  // every request for the storefront after the first: whether the browser revalidated its copy
  const returns: Promise<boolean>[] = []
  page.on('request', (request) => {
    if (request.url() === `${base}/` && request.isNavigationRequest()) returns.push(request.allHeaders().then((h) => 'if-none-match' in h))
  })
  await page.goto(base)
  await page.locator('[data-test=coupon-card]').first().waitFor()
  expect(await pageWorks(page)).toMatchObject({ styled: true, pictures: expect.any(Number), notDrawn: [] })

  for (const n of [1, 2]) {
    const email = uniqueEmail(`return-${n}`)
    await page.getByRole('link', { name: 'Sign up' }).click()
    await page.waitForSelector('#kc-register-form', { timeout: 20_000 })
    await page.fill('#email', email)
    await page.fill('#firstName', 'Return')
    await page.fill('#lastName', 'Visit')
    await page.fill('#password', 'Return-visit-1')
    await page.fill('#password-confirm', 'Return-visit-1')
    await Promise.all([
      page.waitForURL(`${base}/`, { timeout: 20_000 }),
      page.locator('#kc-register-form [type=submit]').click(),
    ])
    expect(await pageWorks(page)).toMatchObject({ styled: true, pictures: expect.any(Number), notDrawn: [] })
    await expect.poll(() => page.locator('header .email').innerText(), { timeout: 10_000 }).toBe(email)
    await expect(page.locator('[data-test=credit]').isVisible()).resolves.toBe(true)

    await page.getByRole('link', { name: 'Sign out' }).click()
    await page.waitForURL(`${base}/`, { timeout: 20_000 })
    await page.getByRole('link', { name: 'Sign up' }).waitFor()
  }
  // every return to the storefront (after sign-up and after sign-out) was a revalidation; answered 304
  // and merged into the held page unless the catalogue changed meanwhile (other suites add coupons to
  // it): at least one was
  const [, ...revalidated] = await Promise.all(returns)
  expect(revalidated).toEqual([true, true, true, true])
  const log = readFileSync(join(nginx.prefix, 'logs', 'access.log'), 'utf8')
  expect(log.match(/"GET \/ HTTP\/1\.1" 304 /g)?.length).toBeGreaterThanOrEqual(1)
  expect(problems).toEqual([])
  await context.close()
})

it('shows the order of a purchase whose outcome was unknown (it looks for it), never "Try again"', async () => {
  const context = await browser.newContext()
  const { page, problems } = await watchedPage(context)
  await page.goto(base)
  await signUp(page, base, uniqueEmail('unknown-outcome'), 'Unknown-outcome-1')
  await page.goto(`${base}/coupons/${couponId}`)
  await hydrated(page)
  const buy = page.locator('[data-test=buy]')
  await expect.poll(() => buy.getAttribute('data-state'), { timeout: 10_000 }).toBe('ready')
  // every state the button passes through
  await page.evaluate(() => {
    const button = document.querySelector('[data-test=buy]')!
    const seen: string[] = ((window as unknown as { buyStates: string[] }).buyStates = [button.getAttribute('data-state')!])
    new MutationObserver(() => seen.push(button.getAttribute('data-state')!)).observe(button, {
      attributes: true,
      attributeFilter: ['data-state'],
    })
  })
  await buy.click()
  await page.locator('.toast', { hasText: 'Payment complete' }).waitFor({ timeout: 40_000 })
  await expect.poll(() => buy.getAttribute('data-state'), { timeout: 10_000 }).toBe('paid')
  expect(existsSync(join(failpoints, 'web.after-reserve'))).toBe(true) // the instance did pause past the deadline
  const states = await page.evaluate(() => (window as unknown as { buyStates: string[] }).buyStates)
  expect(states).toContain('confirming') // OUTCOME_UNKNOWN: looking for the order
  expect(states.filter((s) => s === 'retry' || s === 'failed')).toEqual([])
  expect(await page.locator('[data-test=buy-message]').innerText()).not.toMatch(/try again/i)
  expect(problems.filter((p) => !/504|Gateway Timeout/.test(p))).toEqual([])
  await context.close()
})
