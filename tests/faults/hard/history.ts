/**
 * The history check of the hard-fault suite: what shoppers were told must agree with what happened
 * to their money and their coupons, whatever the fault did in between.
 *
 *   const problems = await historyViolations(couponId, attempts)   // [] when the history holds
 *
 * Rules:
 *  - no attempt is answered HTTP 500 (503 TRY_AGAIN_LATER is the designed answer to an outage, 504
 *    OUTCOME_UNKNOWN to an attempt whose fate could not be known in time);
 *  - every attempt answered PENDING ends in exactly one order, PAID or FAILED; an order id is answered
 *    to one shopper only (a retry while it is pending is answered with it again);
 *  - every PAID order was answered PENDING, or its shopper has an attempt that got no answer at all or
 *    OUTCOME_UNKNOWN (indeterminate, never counted as either) — so an attempt answered TRY_AGAIN_LATER
 *    is never charged;
 *  - every charge (PURCHASE ledger row) belongs to a PAID order, for its price, once.
 * Each shopper buys a given coupon at most once, so a PAID order is tied to its shopper's attempts.
 */
import { sql } from 'kysely'
import { db } from '../../../server/db'
import type { Attempt } from '../support'

/** The 5xx answers that are refusals from the reason table, not failures. */
export const OUTAGE_ANSWERS = new Set(['TRY_AGAIN_LATER', 'OUTCOME_UNKNOWN'])

export async function historyViolations(couponId: number, attempts: Attempt[]): Promise<string[]> {
  const problems: string[] = []
  const mine = attempts.filter((a) => a.couponId === couponId)
  const http500 = mine.filter((a) => a.status !== null && a.status >= 500 && !OUTAGE_ANSWERS.has(a.answer))
  if (http500.length) problems.push(`${http500.length} attempts answered ${[...new Set(http500.map((a) => `${a.status} ${a.answer}`))].join(', ')}`)

  const rows = await db().selectFrom('orders').innerJoin('users', 'users.id', 'orders.user_id')
    .select(['orders.id', 'orders.status', 'orders.reason', 'orders.price', 'users.sub'])
    .where('orders.coupon_id', '=', couponId).execute()
  const byId = new Map(rows.map((r) => [r.id, r]))

  const pending = mine.filter((a) => a.answer === 'PENDING')
  const unsettled = pending.filter((a) => !['PAID', 'FAILED'].includes(byId.get(a.orderId!)?.status ?? ''))
  if (unsettled.length) problems.push(`${unsettled.length} orders answered PENDING did not end PAID or FAILED: ${unsettled.slice(0, 5).map((a) => `${a.orderId} (${byId.get(a.orderId!)?.status ?? 'no order'})`).join(', ')}`)
  const shoppersOf = new Map<string, Set<string>>()
  for (const a of pending) shoppersOf.set(a.orderId!, (shoppersOf.get(a.orderId!) ?? new Set()).add(a.sub))
  const shared = [...shoppersOf].filter(([, subs]) => subs.size > 1).map(([id]) => id)
  if (shared.length) problems.push(`${shared.length} order ids were answered PENDING to more than one shopper: ${shared.slice(0, 5).join(', ')}`)

  const toldPending = new Set(pending.map((a) => a.orderId))
  const indeterminate = new Set(mine.filter((a) => a.answer === 'NO_ANSWER' || a.answer === 'OUTCOME_UNKNOWN').map((a) => a.sub))
  for (const order of rows.filter((r) => r.status === 'PAID' && !toldPending.has(r.id) && !indeterminate.has(r.sub))) {
    const told = mine.filter((a) => a.sub === order.sub).map((a) => a.answer)
    problems.push(`PAID order ${order.id} was never answered PENDING (its shopper was told ${told.join(', ') || 'nothing: not one of this history\'s shoppers'})`)
  }

  const charges = await sql<{ order_id: string | null, n: number, amount: number }>`
    SELECT l.order_id, COUNT(*) AS n, SUM(l.amount) AS amount FROM credit_ledger l
    JOIN orders o ON o.id = l.order_id WHERE l.kind = 'PURCHASE' AND o.coupon_id = ${couponId} GROUP BY l.order_id`.execute(db())
  for (const c of charges.rows) {
    const order = byId.get(c.order_id!)
    if (order?.status !== 'PAID' || Number(c.n) !== 1 || Number(c.amount) !== -Number(order.price)) {
      problems.push(`charge for ${c.order_id}: ${c.n} rows of ${c.amount} for an order ${order?.status ?? 'missing'} at ${order?.price}`)
    }
  }
  const paid = rows.filter((r) => r.status === 'PAID').length
  if (charges.rows.length !== paid) problems.push(`${paid} PAID orders but ${charges.rows.length} charged`)
  return problems
}

/** Per shopper: credit = Σ ledger, and what the ledger took = the prices of their PAID orders. */
export async function creditViolations(subs: string[]): Promise<string[]> {
  if (!subs.length) return []
  const rows = await sql<{ sub: string, credit: number, ledger: number, spent: number, paid: number }>`
    SELECT u.sub, u.credit,
      (SELECT COALESCE(SUM(amount), 0) FROM credit_ledger WHERE user_id = u.id) AS ledger,
      (SELECT COALESCE(-SUM(amount), 0) FROM credit_ledger WHERE user_id = u.id AND kind = 'PURCHASE') AS spent,
      (SELECT COALESCE(SUM(price), 0) FROM orders WHERE user_id = u.id AND status = 'PAID') AS paid
    FROM users u WHERE u.sub IN (${sql.join(subs)})`.execute(db())
  return rows.rows.filter((r) => Number(r.credit) !== Number(r.ledger) || Number(r.spent) !== Number(r.paid))
    .map((r) => `${r.sub}: credit ${r.credit}, ledger ${r.ledger}, charged ${r.spent}, PAID orders worth ${r.paid}`)
}
