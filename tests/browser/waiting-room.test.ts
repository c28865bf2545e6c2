/**
 * The waiting room end to end, in Chromium through NGINX in front of two web instances and a payment
 * worker: an admin switches the room on for a coupon that opens shortly; shoppers join (the proof of
 * work runs in their browser), see their places drawn at the opening, are admitted one after another
 * and buy; a shopper who was not admitted is refused NOT_ADMITTED by the API; once the stock is gone
 * the rest see SOLD_OUT. Screenshots of each state at 1280 and 375 px.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { closeDb, db } from '../../server/db'
import { closeRedis } from '../../server/redis/client'
import { openStack } from '../../scripts/lib/stack.mjs'
import { couponState, createCouponOnSale, eventually } from '../support/data'
import { accessToken, allowWebAddress, createUser, type TestUser } from '../support/keycloak'
import { freePort, startWeb, startWorker, type Proc } from '../support/processes'
import { trpc } from '../support/shoppers'
import { hydrated, launchBrowser, screenshots, signIn, watchedPage } from './browser'

const ADMIN = { email: 'admin@example.com', password: 'admin' }
const STOCK = 3
const SHOPPERS = 4

let browser: Browser
let base: string
let nginx: { url: string, stop: () => Promise<void> }
const procs: Proc[] = []
const problems: string[] = []

beforeAll(async () => {
  const port = await freePort()
  base = `http://localhost:${port}`
  await allowWebAddress(base)
  const env = { PUBLIC_URL: base, QUEUE_POW_DIFFICULTY: '14' }
  procs.push(...await Promise.all([startWeb(env), startWeb(env), startWorker()]))
  nginx = await openStack().startNginx({ name: `nginx-queue-${port}`, port, upstreams: procs.slice(0, 2).map((p) => p.port) }) as typeof nginx
  browser = await launchBrowser()
}, 120_000)

afterAll(async () => {
  await browser?.close()
  await nginx?.stop()
  await Promise.all(procs.map((p) => p.stop()))
  await closeRedis()
  await closeDb()
  expect(problems).toEqual([])
})

async function shopperPage(user: TestUser, couponId: number): Promise<Page> {
  const { page, problems: seen } = await watchedPage(await browser.newContext())
  problems.push(...seen)
  await signIn(page, base, user.email, user.password, `/coupons/${couponId}`)
  await hydrated(page)
  return page
}

const queueState = (page: Page) => page.locator('[data-test=queue]').getAttribute('data-state')

describe('the waiting room in the browser', () => {
  it('queues shoppers fairly, admits them one after another to buy, and shows SOLD_OUT when the stock is gone', async () => {
    const opensAt = Date.now() + 45_000
    const couponId = await createCouponOnSale({ stock: STOCK, price: 500, name: `Opening-second deal ${Date.now()}` })
    await db().updateTable('coupons').set({ sale_starts_at: new Date(opensAt) }).where('id', '=', couponId).execute()
    const [users, outsider] = await Promise.all([Promise.all(Array.from({ length: SHOPPERS }, () => createUser())), createUser()])

    // an admin switches the waiting room on: one shopper admitted a second, a minute each to buy
    const { page: admin } = await watchedPage(await browser.newContext())
    await signIn(admin, base, ADMIN.email, ADMIN.password, `/admin/coupons/${couponId}/edit`)
    await hydrated(admin)
    await admin.getByLabel('Queue shoppers fairly').check()
    await admin.locator('[data-test=waiting-room-rate]').fill('1')
    await admin.locator('[data-test=waiting-room-seconds]').fill('60')
    await Promise.all([admin.waitForURL(`${base}/admin/coupons/${couponId}`), admin.getByRole('button', { name: 'Save changes' }).click()])
    const coupon = await db().selectFrom('coupons').select(['waiting_room_enabled', 'waiting_room_admit_per_second', 'sale_starts_at']).where('id', '=', couponId).executeTakeFirstOrThrow()
    expect({ enabled: Boolean(coupon.waiting_room_enabled), rate: coupon.waiting_room_admit_per_second, opensAt: new Date(coupon.sale_starts_at!).getTime() }).toEqual({ enabled: true, rate: 1, opensAt })

    // shoppers join before the opening: the proof of work runs in their browser
    const pages = await Promise.all(users.map((u) => shopperPage(u, couponId)))
    for (const page of pages) {
      await expect.poll(() => queueState(page)).toBe('NOT_JOINED')
      await page.locator('[data-test=queue-join]').click()
      await expect.poll(() => queueState(page), { timeout: 20_000 }).toBe('WAITING')
      await page.locator('[data-test=queue-waiting]').waitFor()
    }
    problems.push(...await screenshots(pages[0]!, 'queue-joined-before-opening'))

    // not admitted: the API refuses the purchase, through NGINX, before the reserve script
    const token = await accessToken(outsider)
    const refused = await trpc(nginx.url, 'order.purchase', { token, mutation: true, input: { couponId } })
    expect({ status: refused.status, reason: refused.error?.data.reason }).toEqual({ status: 403, reason: 'NOT_ADMITTED' })

    // at the opening, places are drawn: 1..4 among the shoppers, shown with the people ahead
    await sleep(opensAt - Date.now())
    const places = await Promise.all(pages.map(async (page) => {
      await page.locator('[data-test=queue-position], [data-test=queue-admitted]').first().waitFor({ timeout: 15_000 })
      return await page.evaluate(async (id) => (await (await fetch(`/api/trpc/queue.status?input=${encodeURIComponent(JSON.stringify({ couponId: id }))}`)).json()).result.data.position as number, couponId)
    }))
    expect([...places].sort()).toEqual([1, 2, 3, 4])
    const byPlace = places.map((p, i) => ({ p, page: pages[i]! })).sort((a, b) => a.p - b.p).map((x) => x.page)
    const last = byPlace[SHOPPERS - 1]!
    if (await queueState(last) === 'WAITING') problems.push(...await screenshots(last, 'queue-waiting'))

    // admitted in turn, each buys within their admission
    const admittedAt: number[] = []
    for (const [i, page] of byPlace.slice(0, STOCK).entries()) {
      await expect.poll(() => queueState(page), { timeout: 20_000 }).toBe('ADMITTED')
      admittedAt.push(Date.now())
      if (i === 0) problems.push(...await screenshots(page, 'queue-admitted'))
      const buy = page.locator('[data-test=buy]')
      await expect.poll(() => buy.getAttribute('data-state')).toBe('ready')
      await buy.click()
      await expect.poll(() => buy.getAttribute('data-state'), { timeout: 30_000 }).toMatch(/paid|owned/)
    }
    expect(admittedAt).toEqual([...admittedAt].sort((a, b) => a - b))

    // the stock is gone: the last shopper is told at once
    await expect.poll(() => queueState(last), { timeout: 10_000 }).toBe('SOLD_OUT')
    problems.push(...await screenshots(last, 'queue-sold-out'))
    expect(await eventually(async () => (await couponState(couponId)).paid === STOCK, 30_000)).toBe(true)

    // the sale dashboard shows the room
    await admin.goto(`${base}/admin/coupons/${couponId}`)
    await hydrated(admin)
    const figures = admin.locator('[data-test=room-figures]')
    await expect.poll(async () => (await figures.innerText()).replace(/\s+/g, ' '), { timeout: 10_000 }).toMatch(/In queue 1 4 joined Admitted 3 Bought 3 Conversion 100%/i)
    problems.push(...await screenshots(admin, 'queue-dashboard'))
  }, 240_000)
})
