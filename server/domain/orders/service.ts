import { db } from '../../db'
import { redis } from '../../redis/client'
import { keys } from '../../redis/keys'
import { parseReservation, type Reservation } from '../../redis/scripts'
import { DomainError } from '../errors'
import { couponOfOrder } from './ids'
import { reservationToOrder, rowToOrder, selectOrder, selectOrdersByIds, selectOrdersOfUser } from './repository'
import type { Order } from './schemas'

async function pendingEntry(orderId: string): Promise<Reservation | null> {
  const raw = await redis().hget(keys.pending(couponOfOrder(orderId)), orderId)
  return raw ? parseReservation(raw) : null
}

/** MySQL tells the truth about settled orders; the pending ledger about the rest. Others' orders are NOT_FOUND. */
export async function getOrder(userId: number, orderId: string): Promise<Order> {
  const row = await selectOrder(db(), orderId)
  if (row) {
    if (Number(row.user_id) !== userId) throw new DomainError('NOT_FOUND', 'No such order')
    return rowToOrder(row)
  }
  const entry = await pendingEntry(orderId)
  if (entry && entry.userId === userId) return reservationToOrder(orderId, couponOfOrder(orderId), entry)
  // A settlement may have landed between the two reads.
  const settled = await selectOrder(db(), orderId)
  if (settled && Number(settled.user_id) === userId) return rowToOrder(settled)
  throw new DomainError('NOT_FOUND', 'No such order')
}

/** The user's settled orders merged with the still-pending ones from their recent-orders list, newest first. */
export async function listMyOrders(userId: number): Promise<{ items: Order[] }> {
  const [rows, recent] = await Promise.all([
    selectOrdersOfUser(db(), userId),
    redis().lrange(keys.recentOrders(userId), 0, -1),
  ])
  const orders = new Map(rows.map((r) => [r.id, rowToOrder(r)]))
  const unknown = recent.filter((id) => !orders.has(id))
  const pending = await Promise.all(unknown.map(async (id) => [id, await pendingEntry(id)] as const))
  const settledMeanwhile = new Set<string>()
  for (const [id, entry] of pending) {
    if (entry && entry.userId === userId) orders.set(id, reservationToOrder(id, couponOfOrder(id), entry))
    else settledMeanwhile.add(id)
  }
  for (const row of await selectOrdersByIds(db(), [...settledMeanwhile])) {
    if (Number(row.user_id) === userId) orders.set(row.id, rowToOrder(row))
  }
  const items = [...orders.values()].sort((a, b) => b.createdAt.localeCompare(a.createdAt) || b.orderId.localeCompare(a.orderId))
  return { items }
}
