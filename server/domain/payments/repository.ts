import { sql } from 'kysely'
import type { DB } from '../../db'
import type { OrderStatus } from '../../db/types'
import type { FailureReason } from '../orders/schemas'

/*
 * Settlement's statements. Each takes `db` or a transaction, and writes a whole batch in one
 * multi-row statement: the cost of a settlement is per statement and per commit, not per payment.
 */

/** The batch's shoppers' credit, their rows locked in id order (concurrent batches rarely deadlock). */
export async function lockCredits(db: DB, userIds: number[]): Promise<Map<number, number>> {
  const rows = await db.selectFrom('users').select(['id', 'credit']).where('id', 'in', userIds).orderBy('id').forUpdate().execute()
  return new Map(rows.map((u) => [Number(u.id), Number(u.credit)]))
}

/**
 * In one round trip, read without a lock: the coupons' MySQL stock (takeStock's guard decides at the
 * end), and `userId:couponId` of every unit these shoppers already own of these coupons.
 */
export async function selectStockAndOwnership(
  db: DB,
  userIds: number[],
  couponIds: number[],
): Promise<{ stock: Map<number, number>, holds: Set<string> }> {
  const rows = await db
    .selectFrom('coupons')
    .select([sql<number>`0`.as('owned'), 'id as a', 'stock as b'])
    .where('id', 'in', couponIds)
    .unionAll(
      db.selectFrom('user_coupons')
        .select([sql<number>`1`.as('owned'), 'user_id as a', 'coupon_id as b'])
        .where('user_id', 'in', userIds)
        .where('coupon_id', 'in', couponIds),
    )
    .execute()
  const stock = new Map<number, number>()
  const holds = new Set<string>()
  for (const row of rows) {
    if (Number(row.owned)) holds.add(`${Number(row.a)}:${Number(row.b)}`)
    else stock.set(Number(row.a), Number(row.b))
  }
  return { stock, holds }
}

export interface SettledRow {
  orderId: string
  userId: number
  couponId: number
  price: number
  status: Exclude<OrderStatus, 'PENDING'>
  reason?: FailureReason
  serverId: string
  createdAt: Date
  updatedAt: Date
  code?: string
}

/** The batch's order rows; a duplicate id (another worker settled it) fails the statement. */
export async function insertOrders(db: DB, orders: SettledRow[]): Promise<void> {
  await db.insertInto('orders').values(orders.map((d) => ({
    id: d.orderId, user_id: d.userId, coupon_id: d.couponId, price: d.price, status: d.status,
    reason: d.reason ?? null, server_id: d.serverId, created_at: d.createdAt, updated_at: d.updatedAt,
    code: d.code ?? null,
  }))).execute()
}

/**
 * Takes each shopper's total from their credit, guarded; false unless every one of them had it. The
 * totals go as one JSON parameter, joined to the rows by id: a `CASE id` with a branch per shopper
 * was looked up branch by branch for every row (a round of 571 shoppers: 12.5 against 4.5 ms).
 */
export async function debitCredits(db: DB, debits: Map<number, number>): Promise<boolean> {
  const totals = JSON.stringify([...debits])
  const debited = await sql`UPDATE users AS u
    JOIN JSON_TABLE(${totals}, '$[*]' COLUMNS (id BIGINT UNSIGNED PATH '$[0]', amount BIGINT PATH '$[1]')) AS d ON u.id = d.id
    SET u.credit = u.credit - d.amount WHERE u.credit >= d.amount`.execute(db)
  return Number(debited.numAffectedRows) === debits.size
}

/** The paid orders' units and their PURCHASE ledger rows, one statement each. */
export async function recordPurchases(db: DB, paid: SettledRow[]): Promise<void> {
  await db.insertInto('user_coupons').values(paid.map((d) => ({ user_id: d.userId, coupon_id: d.couponId, order_id: d.orderId }))).execute()
  await db
    .insertInto('credit_ledger')
    .values(paid.map((d) => ({ user_id: d.userId, amount: -d.price, kind: 'PURCHASE' as const, order_id: d.orderId })))
    .execute()
}

/**
 * The units the batch sold of each coupon, in one statement guarded by each coupon's stock left; false
 * unless every coupon had them (the caller rolls back). The rows are locked in id order.
 */
export async function takeStock(db: DB, sold: Map<number, number>): Promise<boolean> {
  const cases = sql.join([...sold].map(([id, units]) => sql`WHEN ${id} THEN ${units}`), sql` `)
  const taken = await sql`UPDATE coupons SET stock = stock - (CASE id ${cases} END)
    WHERE id IN (${sql.join([...sold.keys()])}) AND stock >= (CASE id ${cases} END)`.execute(db)
  return Number(taken.numAffectedRows) === sold.size
}

/** An order recorded FAILED unless a row for it exists already (INSERT IGNORE); true when this call wrote it. */
export async function insertFailedOrder(
  db: DB,
  order: Omit<SettledRow, 'status' | 'code' | 'reason'> & { reason: FailureReason },
): Promise<boolean> {
  const result = await db.insertInto('orders').ignore().values({
    id: order.orderId, user_id: order.userId, coupon_id: order.couponId, price: order.price, status: 'FAILED', reason: order.reason,
    server_id: order.serverId, created_at: order.createdAt, updated_at: order.updatedAt,
  }).executeTakeFirst()
  return Number(result.numInsertedOrUpdatedRows ?? 0) === 1
}
