import type { DB } from '../../db'

/** A user's credit movements, newest first, each purchase naming its coupon (one query). */
export async function selectLedger(db: DB, userId: number, limit: number) {
  return await db
    .selectFrom('credit_ledger')
    .leftJoin('orders', 'orders.id', 'credit_ledger.order_id')
    .leftJoin('coupons', 'coupons.id', 'orders.coupon_id')
    .select([
      'credit_ledger.id',
      'credit_ledger.amount',
      'credit_ledger.kind',
      'credit_ledger.order_id',
      'credit_ledger.created_at',
      'coupons.name as coupon_name',
    ])
    .where('credit_ledger.user_id', '=', userId)
    .orderBy('credit_ledger.id', 'desc')
    .limit(limit)
    .execute()
}

export async function findAccountByEmail(db: DB, email: string) {
  return await db.selectFrom('users').select(['id', 'email', 'credit']).where('email', '=', email).executeTakeFirst()
}
