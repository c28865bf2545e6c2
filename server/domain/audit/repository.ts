import { sql } from 'kysely'
import type { DB } from '../../db'

// The audit's own reads: whole-table sums and joins that only the invariants need.

/** (user, coupon) pairs held more than once. */
export async function selectDuplicateHoldings(db: DB) {
  return await db.selectFrom('user_coupons').select(['user_id', 'coupon_id', (eb) => eb.fn.countAll<number>().as('n')])
    .groupBy(['user_id', 'coupon_id']).having((eb) => eb.fn.countAll(), '>', 1).execute()
}

/** Users whose credit is not the sum of their ledger rows (or who have none). */
export async function selectUsersOffLedger(db: DB) {
  const { rows } = await sql<{ id: number, credit: number, ledger: number | null }>`
    SELECT u.id, u.credit, (SELECT SUM(l.amount) FROM credit_ledger l WHERE l.user_id = u.id) AS ledger
    FROM users u HAVING ledger IS NULL OR u.credit <> ledger`.execute(db)
  return rows
}

/** PAID orders, PURCHASE ledger rows, and PAID orders with exactly their price's PURCHASE row. */
export async function countPurchases(db: DB): Promise<{ paidOrders: number, purchaseRows: number, matched: number }> {
  const { rows } = await sql<{ paidOrders: number, purchaseRows: number, matched: number }>`
    SELECT (SELECT COUNT(*) FROM orders WHERE status = 'PAID') AS paidOrders,
           (SELECT COUNT(*) FROM credit_ledger WHERE kind = 'PURCHASE') AS purchaseRows,
           (SELECT COUNT(*) FROM orders o JOIN credit_ledger l ON l.order_id = o.id AND l.kind = 'PURCHASE' AND l.amount = -o.price
            WHERE o.status = 'PAID') AS matched`.execute(db)
  const r = rows[0]!
  return { paidOrders: Number(r.paidOrders), purchaseRows: Number(r.purchaseRows), matched: Number(r.matched) }
}

/** Every holding, and the holdings whose order is PAID. */
export async function countHoldings(db: DB): Promise<{ holdings: number, ofPaidOrders: number }> {
  const { rows } = await sql<{ holdings: number, ofPaidOrders: number }>`
    SELECT (SELECT COUNT(*) FROM user_coupons) AS holdings,
           (SELECT COUNT(*) FROM user_coupons uc JOIN orders o ON o.id = uc.order_id AND o.status = 'PAID') AS ofPaidOrders`.execute(db)
  return { holdings: Number(rows[0]!.holdings), ofPaidOrders: Number(rows[0]!.ofPaidOrders) }
}

/**
 * PAID orders made behind a waiting room (since it was switched on), and those of them whose buyer
 * has no admission recorded before the order (`slackSeconds` allowed between the two clocks).
 */
export async function countUnadmittedPurchases(db: DB, slackSeconds: number): Promise<{ gated: number, unadmitted: number }> {
  const { rows } = await sql<{ gated: number, unadmitted: number }>`
    SELECT COUNT(*) AS gated,
           COALESCE(SUM(NOT EXISTS (
             SELECT 1 FROM queue_entries q
             WHERE q.coupon_id = o.coupon_id AND q.user_id = o.user_id AND q.admitted_at IS NOT NULL
               AND q.admitted_at <= o.created_at + INTERVAL ${slackSeconds} SECOND)), 0) AS unadmitted
    FROM orders o JOIN coupons c ON c.id = o.coupon_id
    WHERE o.status = 'PAID' AND c.waiting_room_enabled AND o.created_at >= c.waiting_room_enabled_at`.execute(db)
  return { gated: Number(rows[0]!.gated), unadmitted: Number(rows[0]!.unadmitted) }
}
