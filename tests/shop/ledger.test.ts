import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { closeDb } from '../../server/db'
import { closeRedis } from '../../server/redis/client'
import { createCouponOnSale, ensureStockLoaded } from '../support/data'
import { accessToken, createUser } from '../support/keycloak'
import { startWeb, type Proc } from '../support/processes'
import { buyAndSettle } from './support'
import { call } from '../support/api'

const stackReady = Boolean(process.env.DATABASE_URL && process.env.OIDC_ISSUER)

describe.skipIf(!stackReady)('the credit ledger', () => {
  let web: Proc
  beforeAll(async () => {
    await ensureStockLoaded()
    web = await startWeb({ STARTING_CREDIT: '10000' })
  })
  afterAll(async () => {
    await web?.stop()
    await closeRedis()
    await closeDb()
  })

  it('shows the shopper their starting credit, purchases and grants, adding up to the balance', async () => {
    const shopperUser = await createUser()
    const shopper = await accessToken(shopperUser)
    const admin = await accessToken(await createUser({ roles: ['admin'] }))
    const start = await call(web.url, 'user.ledger', { token: shopper })
    expect(start.data).toEqual({ balance: 10_000, items: [expect.objectContaining({ amount: 10_000, kind: 'STARTING' })] })

    const me = await call(web.url, 'user.me', { token: shopper })
    const name = `Ledger coupon ${Date.now()}`
    const couponId = await createCouponOnSale({ stock: 2, price: 1_250, name })
    const { orderId } = await buyAndSettle(couponId, me.data!.id, 1_250)

    // The admin finds the shopper by email (any case) and grants credit.
    const account = await call(web.url, 'admin.account', { token: admin, input: { email: shopperUser.email.toUpperCase() } })
    expect(account.data).toEqual({ userId: me.data!.id, email: shopperUser.email, credit: 8_750 })
    const granted = await call(web.url, 'admin.grantCredit', { token: admin, mutation: true, input: { userId: me.data!.id, amount: 500 } })
    expect(granted.data).toEqual({ userId: me.data!.id, credit: 9_250 })

    const ledger = (await call(web.url, 'user.ledger', { token: shopper })).data!
    expect(ledger.balance).toBe(9_250)
    expect(ledger.items.map((e) => [e.kind, e.amount])).toEqual([['GRANT', 500], ['PURCHASE', -1_250], ['STARTING', 10_000]])
    expect(ledger.items[1]).toMatchObject({ orderId, couponName: name })
    expect(ledger.items.reduce((sum, e) => sum + e.amount, 0)).toBe(ledger.balance)
  })

  it('refuses credit lookups and grants to non-admins and unknown emails with clear reasons', async () => {
    const shopper = await accessToken(await createUser())
    const admin = await accessToken(await createUser({ roles: ['admin'] }))
    expect((await call(web.url, 'admin.account', { token: shopper, input: { email: 'a@example.com' } })).error?.data.reason).toBe(
      'FORBIDDEN',
    )
    expect((await call(web.url, 'admin.account', { token: admin, input: { email: 'nobody-here@example.com' } })).error?.data.reason).toBe(
      'NOT_FOUND',
    )
    expect((await call(web.url, 'admin.account', { token: admin, input: { email: 'not an email' } })).status).toBe(400)
    expect((await call(web.url, 'user.ledger', {})).error?.data.reason).toBe('UNAUTHORIZED')
  })
})
