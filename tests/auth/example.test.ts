/**
 * examples/cli-purchase.mjs runs as documented (plain `node`, token from flash-sale-cli) against the
 * built app: it signs in, lists coupons, and places an order.
 */
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { startWeb, type Proc } from '../support/processes'
import { accessToken, createUser } from '../support/keycloak'
import { closeTestDb, testDb, trpc } from './support'

let web: Proc

beforeAll(async () => {
  await testDb()
  web = await startWeb()
})
afterAll(async () => {
  await web?.stop()
  await closeTestDb()
})

it('signs in with flash-sale-cli and calls user.me, coupon.list, order.purchase and order.get', async () => {
  const admin = await createUser({ roles: ['admin'] })
  const created = await trpc(web.url, 'admin.createCoupon', {
    token: await accessToken(admin),
    mutation: true,
    input: { name: 'Example coupon', description: 'for the example script', price: 250, stock: 5, saleStartsAt: new Date(Date.now() - 60_000).toISOString() },
  })
  expect(created.status, JSON.stringify(created.body)).toBe(200)
  const couponId = created.data.id as number
  const shopper = await createUser()
  // exit code 2 = the purchase was refused by the shop (a business answer, printed with its reason)
  const { stdout, code } = await promisify(execFile)(process.execPath, ['examples/cli-purchase.mjs'], {
    env: { ...process.env, FLASH_SALE_URL: web.url, FLASH_SALE_USER: shopper.email, FLASH_SALE_PASSWORD: shopper.password, COUPON_ID: String(couponId), WAIT_SECONDS: '3' },
    timeout: 30_000,
  }).then((r) => ({ ...r, code: 0 }), (e) => ({ stdout: String(e.stdout), code: e.code as number }))
  expect([0, 2], stdout).toContain(code)
  expect(stdout).toContain(`signed in as ${shopper.email}`)
  expect(stdout).toContain('credit 100.00')
  expect(stdout).toMatch(new RegExp(`buying #${couponId} Example coupon: 2\\.50, 5 left`))
  // authenticated all the way: an order id, or a refusal of the sale itself (never UNAUTHORIZED)
  expect(stdout).toMatch(new RegExp(`purchase of #${couponId}(: PENDING \\(order ${couponId}-[0-9A-Z]{26}\\)| refused: (SOLD_OUT|TRY_AGAIN_LATER|RATE_LIMITED|SALE_NOT_STARTED))`))
  if (code === 0) expect(stdout).toMatch(/order \S+: (PAID|FAILED|still PENDING)/)
})
