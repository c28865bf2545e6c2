/**
 * Coming back to a page the browser holds, through NGINX with Chromium's HTTP cache on: the sign-up
 * round trip revalidates the storefront (a conditional GET answered 304), and the page must still work
 * (styles, script, images) and show the new shopper signed in — twice in a row in one browser. A 304
 * whose headers differ from the 200's is merged into the held page: NGINX's strict fallback CSP on it
 * used to block every script, style and image.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import type { Browser, Page } from 'playwright-core'
import { openStack } from '../../scripts/lib/stack.mjs'
import { closeDb, db } from '../../server/db'
import { invalidateCoupon } from '../../server/domain/coupons/catalogue'
import { closeRedis } from '../../server/redis/client'
import { createCouponOnSale } from '../support/data'
import { allowWebAddress, uniqueEmail } from '../support/keycloak'
import { freePort, startWeb, type Proc } from '../support/processes'
import { hydrated, launchBrowser, watchedPage } from './browser'

let web: Proc
let nginx: { url: string, prefix: string, stop: () => Promise<void> }
let browser: Browser
let base: string

beforeAll(async () => {
  const port = await freePort()
  base = `http://localhost:${port}`
  await allowWebAddress(base)
  web = await startWeb({ PUBLIC_URL: base })
  nginx = await openStack().startNginx({ name: 'nginx-return-visit', port, upstreams: [web.port] })
  browser = await launchBrowser()
  // a card with a picture, first on the storefront (the catalogue is ordered by sale start)
  const couponId = await createCouponOnSale({ stock: 5 })
  await db().updateTable('coupons').set({ image_url: '/images/demo/bakery.svg', sale_starts_at: new Date('2000-01-01T00:00:00Z') }).where('id', '=', couponId).execute()
  await invalidateCoupon(couponId)
})

afterAll(async () => {
  await browser?.close()
  await nginx?.stop()
  await web?.stop()
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
  // the returns to the storefront were revalidations, answered 304 and merged into the held page
  const log = readFileSync(join(nginx.prefix, 'logs', 'access.log'), 'utf8')
  expect(log.match(/"GET \/ HTTP\/1\.1" 304 /g)?.length).toBeGreaterThanOrEqual(2)
  expect(problems).toEqual([])
  await context.close()
})
