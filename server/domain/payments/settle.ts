import type { DB } from '../../db'
import type { PaymentRequest } from '../../kafka/client'
import type { RedisClient } from '../../redis/client'
import { claimScript, type Reservation } from '../../redis/scripts'
import type { FailureReason } from '../orders/schemas'
import { selectOrdersByIds } from '../orders/repository'
import { newRedemptionCode } from '../redemption/code'
import { failpoint } from '../failpoints'
import { settledFromRow, type SettledOrder } from './followup'
import {
  debitCredits,
  insertFailedOrder,
  insertOrders,
  lockCredits,
  recordPurchases,
  selectStockAndOwnership,
  takeStock,
} from './repository'
import { log } from '../../observability/log'

export interface Decision extends SettledOrder {
  price: number
  serverId: string
  createdAt: Date
}

/**
 * Settles a batch of payment events in one MySQL transaction (docs/architecture.md, purchase flow step 4),
 * idempotent on orderId. Returns every order's outcome, including redeliveries of settled ones, so the
 * caller can finish their Redis follow-up and notify shoppers.
 *
 * The guards of the design (credit >= price, one coupon per user, stock > 0, one row per order) are
 * decided per order against rows locked FOR UPDATE at the start of the transaction, in event order, so
 * a failing order never touches a balance; the batched writes then re-check them (affected rows) and
 * any mismatch aborts the whole transaction for a retry. MySQL stays the final arbiter even if Redis
 * let one reservation too many through.
 */
export async function settleBatch(db: DB, client: RedisClient, events: PaymentRequest[]): Promise<SettledOrder[]> {
  const unique = [...new Map(events.map((e) => [e.orderId, e])).values()]
  try {
    // Nearly every round holds only new orders: settled without reading the orders table first.
    return await settleNew(db, client, unique)
  } catch (error) {
    if (!duplicateKey(error)) throw error
  }
  // A row exists for one of them (a redelivery after a crash or a rebalance, or the web's tombstone
  // of an order it cancelled): the transaction rolled back. Settled orders only need their follow-up.
  const settled = new Map((await selectOrdersByIds(db, unique.map((e) => e.orderId))).map((r) => [r.id, r]))
  const outcomes = [...settled.values()].map(settledFromRow)
  const fresh = unique.filter((e) => !settled.has(e.orderId))
  return fresh.length ? [...outcomes, ...await settleNew(db, client, fresh)] : outcomes
}

const duplicateKey = (error: unknown) => (error as { code?: unknown } | null)?.code === 'ER_DUP_ENTRY'

/** Settles orders that have no row yet; a row written meanwhile fails it with ER_DUP_ENTRY, changing nothing. */
async function settleNew(db: DB, client: RedisClient, fresh: PaymentRequest[]): Promise<SettledOrder[]> {
  // 1. Claim the reservations, one script per coupon, all sent at once; a missing one was cancelled
  // (or lost with Redis data, or settled and followed up already): no charge, no stock change.
  const claimed: PaymentRequest[] = []
  const decisions: Decision[] = []
  const claims = await Promise.all([...groupByCoupon(fresh)].map(async ([couponId, group]) => ({
    group,
    entries: await claimScript(client, couponId, group.map((e) => e.orderId)),
  })))
  for (const { group, entries } of claims) {
    group.forEach((e, i) => {
      const entry = entries[i]!
      const outcome = afterClaim(e, entry)
      if ('decision' in outcome) decisions.push(outcome.decision)
      else {
        if (outcome.claimed.price !== e.price) log.warn('event price differs from its reservation; charging the reservation', { orderId: e.orderId, event: e.price, reservation: outcome.claimed.price })
        claimed.push(outcome.claimed)
      }
    })
  }

  // 2. One transaction for the whole batch. The coupon rows every concurrent batch of a hot coupon
  // needs are read without a lock and written last, so each batch holds them only for its final
  // UPDATE and the commit; a batch that finds less stock than it read (another batch committed in
  // between) rolls back and decides again on fresh figures.
  for (let attempt = 1; ; attempt++) {
    try {
      const settled = await settleClaimed(db, claimed, decisions)
      return settled.map(({ orderId, userId, couponId, status, reason, code, updatedAt }) => ({
        orderId,
        userId,
        couponId,
        status,
        ...(reason ? { reason } : {}),
        ...(code ? { code } : {}),
        updatedAt,
      }))
    } catch (error) {
      if (!(error instanceof StockMoved) || attempt >= STOCK_RETRIES) throw error
    }
  }
}

/** The MySQL stock of one of these coupons fell below what the batch decided on (a concurrent batch committed first). */
class StockMoved extends Error {
  constructor(readonly couponIds: number[]) {
    super(`coupons ${couponIds.join(', ')}: stock changed under the batch`)
    this.name = 'StockMoved'
  }
}
const STOCK_RETRIES = 5

/**
 * The batch's transaction: decides each claimed payment on locked credit and fresh stock, and writes
 * those decisions with the ones made before it (`earlier`: claims that failed). Returns them all.
 */
async function settleClaimed(db: DB, claimed: PaymentRequest[], earlier: Decision[]): Promise<Decision[]> {
  const decisions = [...earlier]
  const write = async (trx: DB) => {
    if (claimed.length) {
      const userIds = [...new Set(claimed.map((e) => e.userId))].sort((a, b) => a - b)
      const couponIds = [...new Set(claimed.map((e) => e.couponId))].sort((a, b) => a - b)
      const credit = await lockCredits(trx, userIds)
      const { stock, holds } = await selectStockAndOwnership(trx, userIds, couponIds)
      decisions.push(...decidePayments(claimed, { credit, stock, holds }))
    }

    // A duplicate order id here means the order has a row already (settled by another worker during a
    // rebalance, redelivered, or the web's tombstone): the insert fails, the transaction rolls back,
    // and settleBatch reads the orders and settles the rest.
    // Taken with the batch's users locked: one shopper's settlements get increasing update times in
    // commit order, which the ids of order.onUpdate are made from (domain/orders/updates.ts).
    const updatedAt = new Date()
    for (const d of decisions) {
      d.updatedAt = updatedAt
      if (d.status === 'PAID') d.code = newRedemptionCode()
    }
    const rows = decisions.map((d) => ({ ...d, updatedAt }))
    await insertOrders(trx, rows)

    const paid = rows.filter((d) => d.status === 'PAID')
    if (!paid.length) return
    const debit = new Map<number, number>()
    const sold = new Map<number, number>()
    for (const d of paid) {
      debit.set(d.userId, (debit.get(d.userId) ?? 0) + d.price)
      sold.set(d.couponId, (sold.get(d.couponId) ?? 0) + 1)
    }
    if (!(await debitCredits(trx, debit))) throw new Error('credit guard failed inside a locked batch')
    await recordPurchases(trx, paid)
    // last: the hot rows are locked from here to the commit only
    if (!(await takeStock(trx, sold))) throw new StockMoved([...sold.keys()])
  }
  // READ COMMITTED: the coupon rows are read unlocked and updated last, guarded by `stock >= n`. Under
  // REPEATABLE READ with innodb_snapshot_isolation (MariaDB's default from 11.6.2) that UPDATE fails
  // with error 1020 whenever another batch committed the row since this one read it — the overlap
  // this design expects. Each statement reading the latest commit is what the guards are written for.
  await db.transaction().setIsolationLevel('read committed').execute(async (trx) => {
    await write(trx)
    // Tests stop here to lose a COMMIT's answer: sent, carried out, never acknowledged.
    await failpoint('worker.before-commit')
  })
  return decisions
}

/** What MySQL holds for a batch: credit by user, stock by coupon, and `userId:couponId` of each owner. */
export interface BatchFigures {
  credit: Map<number, number>
  stock: Map<number, number>
  holds: Set<string>
}

/**
 * Decides each claimed payment in event order on the batch's figures, which it updates as it goes (a
 * second order of the same user sees the first one's debit).
 */
export function decidePayments(claimed: PaymentRequest[], { credit, stock, holds }: BatchFigures): Decision[] {
  const decisions: Decision[] = []
  for (const e of claimed) {
    const balance = credit.get(e.userId)
    const left = stock.get(e.couponId)
    let reason: FailureReason | undefined
    // Ownership and stock before credit: those two only fail when Redis forgot something, and
    // their follow-ups (unit kept taken) must win over a release (which would create a unit).
    if (balance === undefined || left === undefined) reason = 'PAYMENT_ERROR'
    else if (holds.has(`${e.userId}:${e.couponId}`)) reason = 'ALREADY_PURCHASED'
    else if (left <= 0) reason = 'SOLD_OUT'
    else if (balance < e.price) reason = 'INSUFFICIENT_CREDIT'
    if (reason) {
      decisions.push(decide(e, 'FAILED', reason))
      continue
    }
    credit.set(e.userId, balance! - e.price)
    stock.set(e.couponId, left! - 1)
    holds.add(`${e.userId}:${e.couponId}`)
    decisions.push(decide(e, 'PAID'))
  }
  return decisions
}

/**
 * What the claim script's answer means for an event: a missing entry was cancelled (or lost with Redis
 * data), an unreadable one or another user's is a payment error; otherwise the payment goes on at the
 * price the reservation recorded — the one the shopper was offered — never at the event's (a
 * corrupt or forged event may name another).
 */
export function afterClaim(
  e: PaymentRequest,
  entry: Reservation | 'MISSING' | 'CORRUPT',
): { decision: Decision } | { claimed: PaymentRequest } {
  if (entry === 'MISSING') return { decision: decide(e, 'FAILED', 'CANCELLED') }
  if (entry === 'CORRUPT' || entry.userId !== e.userId) return { decision: decide(e, 'FAILED', 'PAYMENT_ERROR') }
  return { claimed: { ...e, price: entry.price } }
}

function groupByCoupon(events: PaymentRequest[]): Map<number, PaymentRequest[]> {
  const groups = new Map<number, PaymentRequest[]>()
  for (const e of events) {
    const group = groups.get(e.couponId)
    if (group) group.push(e)
    else groups.set(e.couponId, [e])
  }
  return groups
}

function decide(e: PaymentRequest, status: Decision['status'], reason?: FailureReason): Decision {
  return {
    orderId: e.orderId, userId: e.userId, couponId: e.couponId, price: e.price, serverId: e.serverId,
    createdAt: new Date(e.createdAt), status, ...(reason ? { reason } : {}),
  }
}

/**
 * Records an order as FAILED without a charge unless a row for it exists already (INSERT IGNORE): for
 * a poison event, and as the web's tombstone for an order whose fate it cannot tell. `inserted` says
 * whether this call wrote the row; `order` is what MySQL now holds.
 */
export async function recordFailure(db: DB, e: PaymentRequest, reason: FailureReason): Promise<{ inserted: boolean, order: SettledOrder }> {
  const inserted = await insertFailedOrder(db, {
    orderId: e.orderId, userId: e.userId, couponId: e.couponId, price: e.price, reason, serverId: e.serverId,
    createdAt: new Date(e.createdAt), updatedAt: new Date(),
  })
  const row = (await selectOrdersByIds(db, [e.orderId]))[0]!
  return { inserted, order: settledFromRow(row) }
}
