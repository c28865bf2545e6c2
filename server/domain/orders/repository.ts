import type { DB } from '../../db'
import type { OrderRow } from '../../db/types'
import type { Reservation } from '../../redis/scripts'
import type { FailureReason, Order } from './schemas'

export function rowToOrder(row: Pick<OrderRow, 'id' | 'coupon_id' | 'status' | 'reason' | 'price' | 'created_at' | 'updated_at'>): Order {
  return {
    orderId: row.id,
    couponId: Number(row.coupon_id),
    status: row.status,
    ...(row.reason ? { reason: row.reason as FailureReason } : {}),
    price: Number(row.price),
    createdAt: new Date(row.created_at).toISOString(),
    updatedAt: new Date(row.updated_at).toISOString(),
  }
}

export function reservationToOrder(orderId: string, couponId: number, entry: Reservation): Order {
  const at = new Date(entry.at).toISOString()
  return { orderId, couponId, status: 'PENDING', price: entry.price, createdAt: at, updatedAt: at }
}

const COLUMNS = ['id', 'user_id', 'coupon_id', 'status', 'reason', 'price', 'created_at', 'updated_at'] as const

export async function selectOrder(db: DB, orderId: string) {
  return await db.selectFrom('orders').select(COLUMNS).where('id', '=', orderId).executeTakeFirst()
}

export async function selectOrdersOfUser(db: DB, userId: number, limit = 100) {
  return await db.selectFrom('orders').select(COLUMNS).where('user_id', '=', userId).orderBy('created_at', 'desc').limit(limit).execute()
}

export async function selectOrdersByIds(db: DB, orderIds: string[]) {
  if (!orderIds.length) return []
  return await db.selectFrom('orders').select(COLUMNS).where('id', 'in', orderIds).execute()
}
