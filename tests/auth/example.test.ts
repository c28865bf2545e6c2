/**
 * examples/cli-purchase.mjs runs as documented (plain `node`, token from flash-sale-cli) against the
 * built app behind NGINX and a payment worker: it signs in, lists coupons, subscribes to its order
 * updates over ws://<nginx>/ws (token in connectionParams), buys a fresh coupon, and gets the PAID
 * result on the subscription — and when the answer is OUTCOME_UNKNOWN, finds that order instead of
 * sending the purchase again, and gets its result the same way.
 */
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { openStack } from '../../scripts/lib/stack.mjs'
import { PURCHASE_DEADLINE_MS } from '../../server/domain/orders/purchase'
import { freePort, startWeb, startWorker, type Proc } from '../support/processes'
import { accessToken, createUser } from '../support/keycloak'
import { closeTestDb, testDb } from './support'
import { call } from '../support/api'

let web: Proc
/** An instance whose first purchase pauses after its reserve, past the purchase deadline. */
let slow: Proc
let worker: Proc
let nginx: { url: string, stop: () => Promise<void> }

beforeAll(async () => {
  await testDb()
  ;[web, slow, worker] = await Promise.all([startWeb(), startWeb({ FLASH_SALE_FAILPOINTS: `web.after-reserve=pause:${PURCHASE_DEADLINE_MS + 1_500}*1` }), startWorker()])
  nginx = await openStack().startNginx({ name: 'nginx-example', port: await freePort(), upstreams: [web.port] })
})
afterAll(async () => {
  await nginx?.stop()
  await Promise.all([web?.stop(), slow?.stop(), worker?.stop()])
  await closeTestDb()
})

async function exampleCoupon() {
  const admin = await createUser({ roles: ['admin'] })
  const created = await call(web.url, 'admin.createCoupon', {
    batch: true,
    token: await accessToken(admin),
    mutation: true,
    input: {
      name: 'Example coupon',
      description: 'for the example script',
      price: 250,
      stock: 5,
      saleStartsAt: new Date(Date.now() - 60_000).toISOString(),
    },
  })
  expect(created.status, JSON.stringify(created.body)).toBe(200)
  return created.data!.id
}

/** Runs the example as a developer would (exit code 0: a result arrived). */
async function runExample(url: string, shopper: { email: string, password: string }, couponId: number) {
  return await promisify(execFile)(process.execPath, ['examples/cli-purchase.mjs'], {
    env: {
      ...process.env,
      FLASH_SALE_URL: url,
      FLASH_SALE_USER: shopper.email,
      FLASH_SALE_PASSWORD: shopper.password,
      COUPON_ID: String(couponId),
      WAIT_SECONDS: '20',
    },
    timeout: 40_000,
  }).then(
    (r) => ({ ...r, code: 0 }),
    (e) => ({ stdout: String(e.stdout), stderr: String(e.stderr), code: e.code as number }),
  )
}

/** The shop agrees with what the script printed: the order is paid, the shopper charged once. */
async function expectPaidOnce(shopper: { email: string, password: string }, orderId: string) {
  const token = await accessToken(shopper)
  expect((await call(web.url, 'order.get', { batch: true, token, input: { orderId } })).data).toMatchObject({ orderId, status: 'PAID' })
  expect((await call(web.url, 'user.me', { batch: true, token })).data).toMatchObject({ credit: 10_000 - 250 })
}

it('signs in with flash-sale-cli, buys a fresh coupon and receives PAID on order.onUpdate', async () => {
  const couponId = await exampleCoupon()
  const shopper = await createUser()
  const { stdout, stderr, code } = await runExample(nginx.url, shopper, couponId)
  expect(code, `${stdout}\n${stderr}`).toBe(0)
  expect(stdout).toContain(`signed in as ${shopper.email}`)
  expect(stdout).toContain('credit 100.00')
  expect(stdout).toMatch(new RegExp(`buying #${couponId} Example coupon: 2\\.50, 5 left`))
  const placed = new RegExp(`purchase of #${couponId}: PENDING \\(order (${couponId}-[0-9A-Z]{26})\\)`).exec(stdout)
  expect(placed, stdout).not.toBeNull()
  expect(stdout).toMatch(new RegExp(`order ${placed![1]}: PAID, redemption code [0-9A-Z]{28}`))
  await expectPaidOnce(shopper, placed![1]!)
})

it('answers OUTCOME_UNKNOWN by finding the order of that coupon (pending), not by buying again, and gets its result', async () => {
  const couponId = await exampleCoupon()
  const shopper = await createUser()
  const { stdout, stderr, code } = await runExample(slow.url, shopper, couponId)
  expect(code, `${stdout}\n${stderr}`).toBe(0)
  const found = new RegExp(`purchase of #${couponId}: outcome unknown, looking for the order…\\nfound order (${couponId}-[0-9A-Z]{26})`).exec(stdout)
  expect(found, stdout).not.toBeNull()
  expect(stdout).toMatch(new RegExp(`order ${found![1]}: PAID, redemption code [0-9A-Z]{28}`))
  await expectPaidOnce(shopper, found![1]!)
})
