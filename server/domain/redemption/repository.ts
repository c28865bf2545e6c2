import { sql } from 'kysely'
import type { DB } from '../../db'

/** A code's order with what the shop needs to see: the coupon, the buyer, and any earlier redemption. */
export async function selectByCode(db: DB, code: string) {
  return await db.selectFrom('orders')
    .leftJoin('coupons', 'coupons.id', 'orders.coupon_id')
    .innerJoin('users as buyer', 'buyer.id', 'orders.user_id')
    .leftJoin('users as redeemer', 'redeemer.id', 'orders.redeemed_by')
    .select([
      'orders.id', 'orders.code', 'orders.coupon_id', 'orders.price', 'orders.updated_at', 'orders.redeemed_at',
      'coupons.name as coupon_name', 'buyer.email as buyer_email', 'redeemer.email as redeemer_email',
    ])
    .where('orders.code', '=', code)
    .where('orders.status', '=', 'PAID')
    .executeTakeFirst()
}

/**
 * Marks the code redeemed unless it already is: one guarded UPDATE, so of any number of concurrent
 * redemptions InnoDB's row lock lets exactly one change the row. True when this call redeemed it.
 */
export async function markRedeemed(db: DB, code: string, adminUserId: number): Promise<boolean> {
  const result = await db.updateTable('orders')
    .set({ redeemed_at: sql<Date>`CURRENT_TIMESTAMP(3)`, redeemed_by: adminUserId })
    .where('code', '=', code)
    .where('status', '=', 'PAID')
    .where('redeemed_at', 'is', null)
    .executeTakeFirst()
  return Number(result.numUpdatedRows) === 1
}
