/**
 * examples/cli-purchase.mjs runs as documented (plain `node`, token from flash-sale-cli) against the
 * built app behind NGINX and a payment worker: it signs in, lists coupons, subscribes to its order
 * updates over ws://<nginx>/ws (token in connectionParams), buys a fresh coupon, and gets the PAID
 * result on the subscription.
 */
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { openStack } from '../../scripts/lib/stack.mjs'
import { freePort, startWeb, startWorker, type Proc } from '../support/processes'
import { accessToken, createUser } from '../support/keycloak'
import { closeTestDb, testDb, trpc } from './support'

let web: Proc
let worker: Proc
let nginx: { url: string, stop: () => Promise<void> }

beforeAll(async () => {
  await testDb()
  ;[web, worker] = await Promise.all([startWeb(), startWorker()])
  nginx = await openStack().startNginx({ name: 'nginx-example', port: await freePort(), upstreams: [web.port] })
})
afterAll(async () => {
  await nginx?.stop()
  await Promise.all([web?.stop(), worker?.stop()])
  await closeTestDb()
})

it('signs in with flash-sale-cli, buys a fresh coupon and receives PAID on order.onUpdate', async () => {
  const admin = await createUser({ roles: ['admin'] })
  const created = await trpc(web.url, 'admin.createCoupon', {
    token: await accessToken(admin),
    mutation: true,
    input: { name: 'Example coupon', description: 'for the example script', price: 250, stock: 5, saleStartsAt: new Date(Date.now() - 60_000).toISOString() },
  })
  expect(created.status, JSON.stringify(created.body)).toBe(200)
  const couponId = created.data.id as number
  const shopper = await createUser()
  const { stdout, stderr, code } = await promisify(execFile)(process.execPath, ['examples/cli-purchase.mjs'], {
    env: { ...process.env, FLASH_SALE_URL: nginx.url, FLASH_SALE_USER: shopper.email, FLASH_SALE_PASSWORD: shopper.password, COUPON_ID: String(couponId), WAIT_SECONDS: '20' },
    timeout: 40_000,
  }).then((r) => ({ ...r, code: 0 }), (e) => ({ stdout: String(e.stdout), stderr: String(e.stderr), code: e.code as number }))
  expect(code, `${stdout}\n${stderr}`).toBe(0)
  expect(stdout).toContain(`signed in as ${shopper.email}`)
  expect(stdout).toContain('credit 100.00')
  expect(stdout).toMatch(new RegExp(`buying #${couponId} Example coupon: 2\\.50, 5 left`))
  const placed = new RegExp(`purchase of #${couponId}: PENDING \\(order (${couponId}-[0-9A-Z]{26})\\)`).exec(stdout)
  expect(placed, stdout).not.toBeNull()
  expect(stdout).toMatch(new RegExp(`order ${placed![1]}: PAID, redemption code [0-9A-Z]{28}`))
  // the server agrees: the order is paid, the shopper was charged once
  const order = await trpc(web.url, 'order.get', { token: await accessToken(shopper), input: { orderId: placed![1] } })
  expect(order.data).toMatchObject({ orderId: placed![1], status: 'PAID' })
  const me = await trpc(web.url, 'user.me', { token: await accessToken(shopper) })
  expect(me.data).toMatchObject({ credit: 10_000 - 250 })
})
