/**
 * Reads that must see one moment: an admin's stock removal counts the units reservations hold only
 * once no reservation can be made (the repair lease is taken first), and a repair reads MySQL's stock,
 * PAID orders and owners in one snapshot. Each race is made to happen at the exact point it matters.
 */
import { readFileSync } from 'node:fs'
import { sql } from 'kysely'
import { afterAll, describe, expect, it } from 'vitest'
import { closeDb, db } from '../../server/db'
import { updateCoupon } from '../../server/domain/coupons/admin'
import { newOrderId } from '../../server/domain/orders/ids'
import { finishInRedis } from '../../server/domain/payments/followup'
import { settleBatch } from '../../server/domain/payments/settle'
import { newRedemptionCode } from '../../server/domain/redemption/code'
import { checkCoupon, repairCoupon } from '../../server/domain/stock/repair'
import { closeRedis, redis } from '../../server/redis/client'
import { keys } from '../../server/redis/keys'
import { reserveArgs } from '../../server/redis/scripts'
import { createCouponOnSale, createUsers, eventually } from '../support/data'
import { reserve, paymentEvent } from '../support/reservations'

afterAll(async () => {
  await closeRedis()
  await closeDb()
})

const mysqlStock = async (couponId: number) =>
  Number((await db().selectFrom('coupons').select('stock').where('id', '=', couponId).executeTakeFirstOrThrow()).stock)

describe('an admin stock removal', () => {
  it('counts held units under the repair lease: a reservation cannot slip in before Redis follows MySQL and end SOLD_OUT after PENDING', async () => {
    const couponId = await createCouponOnSale({ stock: 2, price: 100 })
    const [shopper] = await createUsers(1, 1_000)
    // Another repair (the reconciler's, say) holds the coupon when the admin removes both units.
    await redis().set(keys.repair(couponId), 'another-repair', 'PX', 10_000)
    const removal = updateCoupon({ id: couponId, stockDelta: -2 }).then(
      () => 'removed',
      (error: { reason?: string }) => error.reason ?? String(error),
    )
    // (a removal that commits before it has the lease does so at once)
    await eventually(async () => (await mysqlStock(couponId)) === 0, 1_000, 20).catch(() => null)
    // That repair ends, and in the same instant (one MULTI) a shopper reserves a unit: told PENDING.
    const orderId = newOrderId(couponId)
    const [, [error, answer]] = (await redis()
      .multi()
      .del(keys.repair(couponId))
      .eval(
        readFileSync('lua/reserve-8.lua', 'utf8'),
        8,
        ...reserveArgs(couponId, { userId: shopper!, orderId, price: 100, serverId: 'test' }),
      )
      .exec()) as [unknown, [Error | null, string[]]]
    expect(error).toBeNull()
    expect(answer[0]).toBe('OK')

    // The removal counted that unit as held: only what was free is removed.
    expect(await removal).toBe('INVALID_INPUT')
    const outcomes = await settleBatch(db(), redis(), [
      paymentEvent({ orderId, userId: shopper!, couponId, requestId: 'lease' }),
    ])
    await finishInRedis(redis(), outcomes)
    expect(outcomes).toEqual([expect.objectContaining({ orderId, status: 'PAID' })])
    expect(await checkCoupon(db(), redis(), couponId)).toMatchObject({ stockDrift: 0, buyersDrift: 0, mysqlStock: 1, redisStock: 1 })
  })
})

describe('a repair', () => {
  it('reads MySQL in one snapshot: a settlement committing between its reads makes no unit', async () => {
    const couponId = await createCouponOnSale({ stock: 3, price: 0 })
    const [shopper] = await createUsers(1, 1_000)
    const { orderId } = await reserve(couponId, shopper!, undefined, 0)

    let repairing: ReturnType<typeof repairCoupon> | undefined
    await db().connection().execute(async (settler) => {
      // The repair reads the coupon's stock, then waits for `orders`, which the settler holds …
      await sql`LOCK TABLES orders WRITE, user_coupons WRITE, credit_ledger WRITE`.execute(settler)
      try {
        repairing = repairCoupon(db(), redis(), couponId)
        expect(await eventually(async () => {
          const { rows } = await sql<{ n: number }>`SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE STATE = 'Waiting for table metadata lock' AND INFO LIKE '%orders%'`.execute(db())
          return Number(rows[0]!.n) > 0
        }, 5_000, 20)).toBe(true)
        // … and meanwhile the shopper's order settles: PAID (price 0), owned, ledgered, one unit less in MySQL.
        await settler
          .insertInto('orders')
          .values({
            id: orderId,
            user_id: shopper!,
            coupon_id: couponId,
            price: 0,
            status: 'PAID',
            reason: null,
            server_id: 'test',
            created_at: new Date(),
            updated_at: new Date(),
            code: newRedemptionCode(),
          })
          .execute()
        await settler.insertInto('user_coupons').values({ user_id: shopper!, coupon_id: couponId, order_id: orderId }).execute()
        await settler.insertInto('credit_ledger').values({ user_id: shopper!, amount: 0, kind: 'PURCHASE', order_id: orderId }).execute()
        await db().updateTable('coupons').set({ stock: sql`stock - 1` }).where('id', '=', couponId).execute()
      } finally {
        await sql`UNLOCK TABLES`.execute(settler)
      }
    })
    expect(await repairing).toMatchObject({ status: 'repaired' })
    // the settlement's Redis follow-up comes after the repair's script
    await finishInRedis(redis(), [{ orderId, userId: shopper!, couponId, status: 'PAID' }])
    expect(await checkCoupon(db(), redis(), couponId)).toMatchObject({ stockDrift: 0, buyersDrift: 0, mysqlStock: 2, redisStock: 2 })
  })
})
