import type { DB } from '../../db'
import type { OrderRow, OrderStatus } from '../../db/types'
import type { Reservation } from '../../redis/scripts'
import type { FailureReason, Order, OrderCoupon } from './schemas'
import { toUpdate, updateId, type OrderUpdate, type UpdateCursor } from './updates'

type ShownRow = Pick<OrderRow, 'id' | 'coupon_id' | 'status' | 'reason' | 'price' | 'created_at' | 'updated_at' | 'code' | 'redeemed_at'>
  & { coupon_name: string | null, coupon_image_url: string | null }

/** A coupon that was deleted since (or never loaded) still names its order. */
const unknownCoupon = (couponId: number): OrderCoupon => ({ name: `Coupon #${couponId}`, imageUrl: null })

export function rowToOrder(row: ShownRow & { user_id?: number }): Order {
  const couponId = Number(row.coupon_id)
  return {
    orderId: row.id,
    couponId,
    status: row.status,
    ...(row.reason ? { reason: row.reason as FailureReason } : {}),
    price: Number(row.price),
    createdAt: new Date(row.created_at).toISOString(),
    updatedAt: new Date(row.updated_at).toISOString(),
    coupon: row.coupon_name === null ? unknownCoupon(couponId) : { name: row.coupon_name, imageUrl: row.coupon_image_url },
    ...(row.status === 'PAID' && row.code ? { code: row.code } : {}),
    ...(row.redeemed_at ? { redeemedAt: new Date(row.redeemed_at).toISOString() } : {}),
  }
}

export function reservationToOrder(orderId: string, couponId: number, entry: Reservation, coupon: OrderCoupon | null): Order {
  const at = new Date(entry.at).toISOString()
  return {
    orderId,
    couponId,
    status: 'PENDING',
    price: entry.price,
    createdAt: at,
    updatedAt: at,
    coupon: coupon ?? unknownCoupon(couponId),
  }
}

const COLUMNS = ['id', 'user_id', 'coupon_id', 'status', 'reason', 'price', 'created_at', 'updated_at', 'code'] as const

/** Orders as shoppers see them: one query joining the coupon's name and image. */
function shownOrders(db: DB) {
  return db.selectFrom('orders')
    .leftJoin('coupons', 'coupons.id', 'orders.coupon_id')
    .select([
      'orders.id', 'orders.user_id', 'orders.coupon_id', 'orders.status', 'orders.reason', 'orders.price',
      'orders.created_at', 'orders.updated_at', 'orders.code', 'orders.redeemed_at',
      'coupons.name as coupon_name', 'coupons.image_url as coupon_image_url',
    ])
}

export async function selectShownOrder(db: DB, orderId: string) {
  return await shownOrders(db).where('orders.id', '=', orderId).executeTakeFirst()
}

/** The user's orders, newest first; of one coupon only when `couponId` is given. */
export async function selectShownOrdersOfUser(db: DB, userId: number, couponId?: number, limit = 100) {
  let query = shownOrders(db).where('orders.user_id', '=', userId)
  if (couponId !== undefined) query = query.where('orders.coupon_id', '=', couponId)
  return await query.orderBy('orders.created_at', 'desc').limit(limit).execute()
}

export async function selectShownOrdersByIds(db: DB, orderIds: string[]) {
  if (!orderIds.length) return []
  return await shownOrders(db).where('orders.id', 'in', orderIds).execute()
}

/** Settlement's view of orders (no join): who, what, and the outcome. */
export async function selectOrdersByIds(db: DB, orderIds: string[]) {
  if (!orderIds.length) return []
  return await db.selectFrom('orders').select(COLUMNS).where('id', 'in', orderIds).execute()
}

const ID_CHUNK = 1_000

/** Orders of `orderIds` that MySQL holds as PAID, read ID_CHUNK ids at a time. */
export async function selectPaidAmong(db: DB, orderIds: string[]): Promise<Set<string>> {
  const paid = new Set<string>()
  for (let i = 0; i < orderIds.length; i += ID_CHUNK) {
    const rows = await db
      .selectFrom('orders')
      .select('id')
      .where('id', 'in', orderIds.slice(i, i + ID_CHUNK))
      .where('status', '=', 'PAID')
      .execute()
    for (const r of rows) paid.add(r.id)
  }
  return paid
}

/** How many orders of the coupon are in each status. */
export async function countOrdersByStatus(db: DB, couponId: number): Promise<Map<OrderStatus, number>> {
  const rows = await db
    .selectFrom('orders')
    .select(['status', (eb) => eb.fn.countAll<number>().as('n')])
    .where('coupon_id', '=', couponId)
    .groupBy('status')
    .execute()
  return new Map(rows.map((r) => [r.status, Number(r.n)]))
}

/** How many PAID orders each coupon has (absent: none). */
export async function countPaidByCoupon(db: DB): Promise<Map<number, number>> {
  const rows = await db
    .selectFrom('orders')
    .select(['coupon_id', (eb) => eb.fn.countAll<number>().as('n')])
    .where('status', '=', 'PAID')
    .groupBy('coupon_id')
    .execute()
  return new Map(rows.map((r) => [Number(r.coupon_id), Number(r.n)]))
}

export async function countPendingOrders(db: DB): Promise<number> {
  const row = await db
    .selectFrom('orders')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('status', '=', 'PENDING')
    .executeTakeFirstOrThrow()
  return Number(row.n)
}

const UPDATES_PAGE = 500

/**
 * The user's updates after `cursor` (by update time, then order id), oldest first, with their ids:
 * every order settled after it, older orders that settled later included.
 */
export async function selectUpdatesSince(db: DB, userId: number, cursor: UpdateCursor): Promise<{ id: string, update: OrderUpdate }[]> {
  const out: { id: string, update: OrderUpdate }[] = []
  let { after, orderId } = cursor
  for (;;) {
    const rows = await db.selectFrom('orders')
      .select(['id', 'coupon_id', 'status', 'reason', 'code', 'updated_at'])
      .where('user_id', '=', userId)
      .where((eb) => eb.or([eb('updated_at', '>', after), eb.and([eb('updated_at', '=', after), eb('id', '>', orderId)])]))
      .orderBy('updated_at').orderBy('id')
      .limit(UPDATES_PAGE)
      .execute()
    for (const row of rows) {
      const updatedAt = new Date(row.updated_at)
      out.push({ id: updateId(updatedAt, row.id), update: toUpdate(row) })
    }
    if (rows.length < UPDATES_PAGE) return out
    const last = rows.at(-1)!
    after = new Date(last.updated_at)
    orderId = last.id
  }
}
