import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { closeDb, db } from '../../server/db'
import { closeRedis } from '../../server/redis/client'
import { getOrder, listMyOrders } from '../../server/domain/orders/service'
import { CODE_PATTERN, groupCode } from '../../server/domain/redemption/code'
import { redeemCode } from '../../server/domain/redemption/service'
import { createCouponOnSale, createUsers, ensureStockLoaded } from '../support/data'
import { createUser, accessToken } from '../support/keycloak'
import { startWeb, type Proc } from '../support/processes'
import { buyAndSettle, codeOf } from './support'
import { call } from '../support/api'

const stackReady = Boolean(process.env.DATABASE_URL && process.env.REDIS_URL)

describe.skipIf(!stackReady)('redemption codes', () => {
  beforeAll(ensureStockLoaded)
  afterAll(async () => {
    await closeRedis()
    await closeDb()
  })

  it('gives every PAID order its own 28-symbol code in the settlement, and a failed order none', async () => {
    const couponId = await createCouponOnSale({ stock: 10, price: 400, name: 'Code test' })
    const rich = await createUsers(5, 1_000)
    const [poor] = await createUsers(1, 100)
    const paid = await Promise.all(rich.map((u) => buyAndSettle(couponId, u, 400)))
    const failed = await buyAndSettle(couponId, poor!, 400)
    expect(paid.map((p) => p.outcome.status)).toEqual(Array(5).fill('PAID'))
    expect(failed.outcome).toMatchObject({ status: 'FAILED', reason: 'INSUFFICIENT_CREDIT' })

    const codes = await Promise.all(paid.map((p) => codeOf(p.orderId)))
    for (const code of codes) expect(code).toMatch(CODE_PATTERN)
    expect(new Set(codes).size).toBe(5)
    expect(await codeOf(failed.orderId)).toBeNull()
    expect(groupCode(codes[0]!)).toMatch(/^([0-9A-Z]{4}-){6}[0-9A-Z]{4}$/)
  })

  it('order.get and order.mine carry the coupon name, image and code from one query', async () => {
    const couponId = await createCouponOnSale({ stock: 3, price: 250, name: 'Bakery box (test)' })
    const [user] = await createUsers(1, 1_000)
    const { orderId } = await buyAndSettle(couponId, user!, 250)
    const code = await codeOf(orderId)
    const order = await getOrder(user!, orderId)
    expect(order).toMatchObject({ orderId, status: 'PAID', code, coupon: { name: 'Bakery box (test)', imageUrl: null } })
    expect(order.redeemedAt).toBeUndefined()
    const mine = await listMyOrders(user!)
    expect(mine.items).toEqual([order])
    // A coupon page asks for the orders of its coupon only.
    expect((await listMyOrders(user!, couponId)).items).toEqual([order])
    expect((await listMyOrders(user!, couponId + 1)).items).toEqual([])
  })

  it('of 40 simultaneous redemptions of one code exactly one succeeds, recording who and when', async () => {
    const couponId = await createCouponOnSale({ stock: 1, price: 100 })
    const [buyer, admin] = await createUsers(2, 1_000)
    const { orderId } = await buyAndSettle(couponId, buyer!, 100)
    const code = (await codeOf(orderId))!
    const before = Date.now()
    const results = await Promise.allSettled(Array.from({ length: 40 }, () => redeemCode(admin!, code)))
    const won = results.filter((r) => r.status === 'fulfilled')
    const refused = results.filter((r) => r.status === 'rejected')
    expect(won).toHaveLength(1)
    expect(refused).toHaveLength(39)
    for (const r of refused) expect((r as PromiseRejectedResult).reason).toMatchObject({ reason: 'ALREADY_REDEEMED' })

    const row = await db().selectFrom('orders').select(['redeemed_at', 'redeemed_by']).where('id', '=', orderId).executeTakeFirstOrThrow()
    expect(Number(row.redeemed_by)).toBe(admin)
    expect(new Date(row.redeemed_at!).getTime()).toBeGreaterThanOrEqual(before - 1_000)
    expect((await getOrder(buyer!, orderId)).redeemedAt).toBe(new Date(row.redeemed_at!).toISOString())
  })

  describe('through the API', () => {
    let web: Proc
    beforeAll(async () => {
      web = await startWeb()
    })
    afterAll(async () => {
      await web?.stop()
    })

    it('lets an admin look a code up and redeem it once; the second try says when and by whom', async () => {
      const couponId = await createCouponOnSale({ stock: 1, price: 100, name: 'Redeem over HTTP' })
      const [buyer] = await createUsers(1, 1_000)
      const { orderId } = await buyAndSettle(couponId, buyer!, 100)
      const code = (await codeOf(orderId))!
      const adminUser = await createUser({ roles: ['admin'] })
      const admin = await accessToken(adminUser)
      const shopper = await accessToken(await createUser())
      // Typed by a person: lower case, with the dashes of the printed groups.
      const typed = groupCode(code).toLowerCase()

      const looked = await call(web.url, 'admin.redemption', { input: { code: typed }, token: admin })
      expect(looked).toMatchObject({ status: 200, data: { code, orderId, couponName: 'Redeem over HTTP', redeemedAt: null } })

      const first = await call(web.url, 'admin.redeem', { input: { code: typed }, token: admin, mutation: true })
      expect(first).toMatchObject({ status: 200, data: { code, orderId, redeemedBy: adminUser.email } })
      const second = await call(web.url, 'admin.redeem', { input: { code }, token: admin, mutation: true })
      expect(second.status).toBe(409)
      expect(second.error).toMatchObject({ data: { reason: 'ALREADY_REDEEMED', httpStatus: 409 } })
      expect(second.error!.message).toContain(adminUser.email)

      expect((await call(web.url, 'admin.redeem', { input: { code }, token: shopper, mutation: true })).error?.data.reason).toBe(
        'FORBIDDEN',
      )
      const malformed = await call(web.url, 'admin.redeem', { input: { code: 'not-a-code' }, token: admin, mutation: true })
      expect(malformed).toMatchObject({ status: 400, error: { data: { reason: 'INVALID_INPUT' } } })
      const unknown = await call(web.url, 'admin.redeem', { input: { code: '0'.repeat(28) }, token: admin, mutation: true })
      expect(unknown).toMatchObject({ status: 404, error: { data: { reason: 'NOT_FOUND' } } })
    })
  })
})
