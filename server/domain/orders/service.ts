import { db } from '../../db'
import { redis } from '../../redis/client'
import { keys } from '../../redis/keys'
import { parseReservation, type Reservation } from '../../redis/scripts'
import { findCoupon } from '../coupons/catalogue'
import { DomainError } from '../errors'
import { couponOfOrder } from './ids'
import { reservationToOrder, rowToOrder, selectShownOrder, selectShownOrdersByIds, selectShownOrdersOfUser } from './repository'
import type { Order } from './schemas'

async function pendingEntry(orderId: string): Promise<Reservation | null> {
  const raw = await redis().hget(keys.pending(couponOfOrder(orderId)), orderId)
  return raw ? parseReservation(raw) : null
}

/** A pending order names its coupon from the catalogue cache (no MySQL read on the way). */
async function pendingOrder(orderId: string, entry: Reservation): Promise<Order> {
  const couponId = couponOfOrder(orderId)
  const coupon = await findCoupon(couponId).catch(() => null)
  return reservationToOrder(orderId, couponId, entry, coupon && { name: coupon.name, imageUrl: coupon.imageUrl })
}

/** MySQL tells the truth about settled orders; the pending ledger about the rest. Others' orders are NOT_FOUND. */
export async function getOrder(userId: number, orderId: string): Promise<Order> {
  const row = await selectShownOrder(db(), orderId)
  if (row) {
    if (Number(row.user_id) !== userId) throw new DomainError('NOT_FOUND', 'No such order')
    return rowToOrder(row)
  }
  const entry = await pendingEntry(orderId)
  if (entry && entry.userId === userId) return await pendingOrder(orderId, entry)
  // A settlement may have landed between the two reads.
  const settled = await selectShownOrder(db(), orderId)
  if (settled && Number(settled.user_id) === userId) return rowToOrder(settled)
  throw new DomainError('NOT_FOUND', 'No such order')
}

/**
 * The user's settled orders merged with the still-pending ones from their recent-orders list, newest
 * first; only those of one coupon when `couponId` is given (a coupon page's Buy button).
 */
export async function listMyOrders(userId: number, couponId?: number): Promise<{ items: Order[] }> {
  const [rows, recent] = await Promise.all([
    selectShownOrdersOfUser(db(), userId, couponId),
    redis().lrange(keys.recentOrders(userId), 0, -1),
  ])
  const orders = new Map(rows.map((r) => [r.id, rowToOrder(r)]))
  const unknown = recent.filter((id) => !orders.has(id) && (couponId === undefined || couponOfOrder(id) === couponId))
  const pending = await Promise.all(unknown.map(async (id) => [id, await pendingEntry(id)] as const))
  const settledMeanwhile = new Set<string>()
  for (const [id, entry] of pending) {
    if (entry && entry.userId === userId) orders.set(id, await pendingOrder(id, entry))
    else settledMeanwhile.add(id)
  }
  for (const row of await selectShownOrdersByIds(db(), [...settledMeanwhile])) {
    if (Number(row.user_id) === userId) orders.set(row.id, rowToOrder(row))
  }
  const items = [...orders.values()].sort((a, b) => b.createdAt.localeCompare(a.createdAt) || b.orderId.localeCompare(a.orderId))
  return { items }
}
