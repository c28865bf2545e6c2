/**
 * examples/cli-purchase.mjs runs as documented (plain `node`, token from flash-sale-cli) against the
 * built app: it signs in, lists coupons, and places an order — and when the answer is OUTCOME_UNKNOWN,
 * finds that order instead of sending the purchase again.
 */
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { PURCHASE_DEADLINE_MS } from '../../server/domain/orders/purchase'
import { startWeb, type Proc } from '../support/processes'
import { accessToken, createUser } from '../support/keycloak'
import { closeTestDb, testDb, trpc } from './support'

let web: Proc
/** An instance whose first purchase pauses after its reserve, past the purchase deadline. */
let slow: Proc

beforeAll(async () => {
  await testDb()
  ;[web, slow] = await Promise.all([startWeb(), startWeb({ FLASH_SALE_FAILPOINTS: `web.after-reserve=pause:${PURCHASE_DEADLINE_MS + 1_500}*1` })])
})
afterAll(async () => {
  await Promise.all([web?.stop(), slow?.stop()])
  await closeTestDb()
})

async function exampleCoupon() {
  const admin = await createUser({ roles: ['admin'] })
  const created = await trpc(web.url, 'admin.createCoupon', {
    token: await accessToken(admin),
    mutation: true,
    input: { name: 'Example coupon', description: 'for the example script', price: 250, stock: 5, saleStartsAt: new Date(Date.now() - 60_000).toISOString() },
  })
  expect(created.status, JSON.stringify(created.body)).toBe(200)
  return created.data.id as number
}

/** Runs the example as a developer would; exit code 2 = the shop refused the purchase (a business answer). */
async function runExample(url: string, shopper: { email: string, password: string }, couponId: number) {
  return await promisify(execFile)(process.execPath, ['examples/cli-purchase.mjs'], {
    env: { ...process.env, FLASH_SALE_URL: url, FLASH_SALE_USER: shopper.email, FLASH_SALE_PASSWORD: shopper.password, COUPON_ID: String(couponId), WAIT_SECONDS: '3' },
    timeout: 30_000,
  }).then((r) => ({ ...r, code: 0 }), (e) => ({ stdout: String(e.stdout), code: e.code as number }))
}

it('signs in with flash-sale-cli and calls user.me, coupon.list, order.purchase and order.get', async () => {
  const couponId = await exampleCoupon()
  const shopper = await createUser()
  const { stdout, code } = await runExample(web.url, shopper, couponId)
  expect([0, 2], stdout).toContain(code)
  expect(stdout).toContain(`signed in as ${shopper.email}`)
  expect(stdout).toContain('credit 100.00')
  expect(stdout).toMatch(new RegExp(`buying #${couponId} Example coupon: 2\\.50, 5 left`))
  // authenticated all the way: an order id, or a refusal of the sale itself (never UNAUTHORIZED)
  expect(stdout).toMatch(new RegExp(`purchase of #${couponId}(: PENDING \\(order ${couponId}-[0-9A-Z]{26}\\)| refused: (SOLD_OUT|TRY_AGAIN_LATER|RATE_LIMITED|SALE_NOT_STARTED))`))
  if (code === 0) expect(stdout).toMatch(/order \S+: (PAID|FAILED|still PENDING)/)
})

it('answers OUTCOME_UNKNOWN by finding the order of that coupon (pending), not by buying again', async () => {
  const couponId = await exampleCoupon()
  const shopper = await createUser()
  const { stdout, code } = await runExample(slow.url, shopper, couponId)
  expect(code, stdout).toBe(0)
  const found = new RegExp(`purchase of #${couponId}: outcome unknown, looking for the order…\\nfound order (${couponId}-[0-9A-Z]{26})`).exec(stdout)
  expect(found, stdout).not.toBeNull()
  expect(stdout).toMatch(new RegExp(`order ${found![1]}: (PAID|FAILED|still PENDING)`))
})
