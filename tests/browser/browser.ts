import { mkdir } from 'node:fs/promises'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'
import { freePort, startWeb, startWorker, type Proc } from '../support/processes'
import { openStack } from '../../scripts/lib/stack.mjs'
import { allowWebAddress } from '../support/keycloak'

export const DESKTOP = { width: 1280, height: 800 }
export const PHONE = { width: 375, height: 740 }
export const SCREENSHOTS = 'test-results/screenshots'

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  })
}

/** Console errors, page errors and hydration warnings seen by a page; tests assert the list is empty. */
export interface WatchedPage { page: Page, problems: string[] }

const HYDRATION = /hydration|mismatch/i

export async function watchedPage(context: BrowserContext): Promise<WatchedPage> {
  const page = await context.newPage()
  const problems: string[] = []
  page.on('console', (msg) => {
    const text = msg.text()
    if (msg.type() === 'error' || (msg.type() === 'warning' && HYDRATION.test(text))) {
      problems.push(`${msg.type()}: ${text} (${page.url()})`)
    }
  })
  page.on('pageerror', (error) => problems.push(`pageerror: ${error.message} (${page.url()})`))
  return { page, problems }
}

/** Keycloak's form: `/auth/login` → #username/#password/#kc-login → back to the app. */
export async function signIn(page: Page, baseUrl: string, email: string, password: string, returnTo = '/') {
  await page.goto(`${baseUrl}/auth/login?returnTo=${encodeURIComponent(returnTo)}`)
  await page.locator('#username').fill(email)
  await page.locator('#password').fill(password)
  await Promise.all([page.waitForURL((url) => url.href.startsWith(baseUrl)), page.locator('#kc-login').click()])
  await page.waitForLoadState('networkidle')
}

/** Keycloak's registration form (self-registration on, email as username). */
export async function signUp(page: Page, baseUrl: string, email: string, password: string) {
  await page.goto(`${baseUrl}/auth/register`)
  await page.locator('#email').fill(email)
  if (await page.locator('#username').count()) await page.locator('#username').fill(email)
  await page.locator('#password').fill(password)
  await page.locator('#password-confirm').fill(password)
  if (await page.locator('#firstName').count()) await page.locator('#firstName').fill('Test')
  if (await page.locator('#lastName').count()) await page.locator('#lastName').fill('Shopper')
  await Promise.all([
    page.waitForURL((url) => url.href.startsWith(baseUrl)),
    page.locator('input[type=submit], button[type=submit]').first().click(),
  ])
  await page.waitForLoadState('networkidle')
}

/** Saves the current page at desktop and phone widths, and checks nothing is wider than the viewport. */
export async function screenshots(page: Page, name: string): Promise<string[]> {
  await mkdir(SCREENSHOTS, { recursive: true })
  const overflow: string[] = []
  for (const [label, size] of [['desktop', DESKTOP], ['phone', PHONE]] as const) {
    await page.setViewportSize(size)
    await page.waitForTimeout(150)
    await page.screenshot({ path: `${SCREENSHOTS}/${name}-${label}.png`, fullPage: true })
    const wide = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth)
    if (wide) overflow.push(`${name} scrolls sideways at ${label} width`)
  }
  await page.setViewportSize(DESKTOP)
  return overflow
}

/** Waits until the app has hydrated (Nuxt marks it), so clicks reach Vue handlers. */
export async function hydrated(page: Page) {
  await page.waitForFunction(() => {
    const app = (document.querySelector('#__nuxt') as { __vue_app__?: { $nuxt?: { isHydrating?: boolean } } } | null)?.__vue_app__
    return !!app && !app.$nuxt?.isHydrating
  })
}

export interface BrowserStack { browser: Browser, base: string, stop: () => Promise<void> }

/**
 * A payment worker, a web instance behind NGINX (as `npm start` renders it: pages, tRPC and the
 * /ws subscriptions all go through it) and Chromium for one browser test file. E2E_BASE_URL points
 * at a running stack's NGINX instead when given. NGINX's address is the instance's public address,
 * so Keycloak must accept it as a redirect URI.
 */
export async function startBrowserStack(): Promise<BrowserStack> {
  const worker: Proc | undefined = process.env.E2E_WORKER_RUNNING ? undefined : await startWorker()
  let web: Proc | undefined
  let nginx: { stop: () => Promise<void> } | undefined
  let base = process.env.E2E_BASE_URL
  if (!base) {
    const port = await freePort()
    base = `http://localhost:${port}`
    await allowWebAddress(base)
    web = await startWeb({ PUBLIC_URL: base, PURCHASE_RATE_LIMIT: '100' })
    nginx = await openStack().startNginx({ name: `nginx-browser-${port}`, port, upstreams: [web.port] })
  }
  const browser = await launchBrowser()
  return {
    browser,
    base,
    stop: async () => {
      await browser.close()
      await nginx?.stop()
      await web?.stop()
      await worker?.stop()
    },
  }
}
