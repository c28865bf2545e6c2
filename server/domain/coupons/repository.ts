import { sql } from 'kysely'
import type { DB } from '../../db'
import type { CouponRow } from '../../db/types'
import type { WaitingRoom } from '../queue/schemas'
import type { Coupon } from './schemas'

const COLUMNS = ['id', 'name', 'description', 'image_url', 'price', 'total_stock', 'stock', 'sale_starts_at', 'sale_ends_at', 'created_at', 'updated_at',
  'waiting_room_enabled', 'waiting_room_admit_per_second', 'waiting_room_admission_seconds'] as const

type WaitingRoomColumns = 'waiting_room_enabled' | 'waiting_room_admit_per_second' | 'waiting_room_admission_seconds'

export function toCoupon(row: Pick<CouponRow, 'id' | 'name' | 'description' | 'image_url' | 'price' | 'stock' | 'sale_starts_at' | 'sale_ends_at' | WaitingRoomColumns>): Coupon {
  return {
    id: Number(row.id),
    name: row.name,
    description: row.description,
    imageUrl: row.image_url,
    price: Number(row.price),
    stock: Number(row.stock),
    saleStartsAt: row.sale_starts_at ? new Date(row.sale_starts_at).toISOString() : null,
    saleEndsAt: row.sale_ends_at ? new Date(row.sale_ends_at).toISOString() : null,
    waitingRoom: toWaitingRoom(row),
  }
}

/** The coupon's waiting room; null when it never had one. */
export function toWaitingRoom(row: Pick<CouponRow, WaitingRoomColumns>): WaitingRoom | null {
  if (row.waiting_room_admit_per_second === null || row.waiting_room_admission_seconds === null) return null
  return { enabled: Boolean(row.waiting_room_enabled), admitPerSecond: Number(row.waiting_room_admit_per_second), admissionSeconds: Number(row.waiting_room_admission_seconds) }
}

export async function selectCouponPage(db: DB, page: number, pageSize: number) {
  const [rows, count] = await Promise.all([
    db.selectFrom('coupons').select(COLUMNS)
      // NULL start (always open) sorts first, like a sale that opened long ago.
      .orderBy(sql`sale_starts_at IS NOT NULL`).orderBy('sale_starts_at').orderBy('id')
      .limit(pageSize).offset((page - 1) * pageSize).execute(),
    db.selectFrom('coupons').select((eb) => eb.fn.countAll<number>().as('total')).executeTakeFirstOrThrow(),
  ])
  return { items: rows.map(toCoupon), total: Number(count.total) }
}

export async function selectCoupon(db: DB, id: number) {
  return await db.selectFrom('coupons').select(COLUMNS).where('id', '=', id).executeTakeFirst()
}

export async function selectAllCouponIds(db: DB): Promise<number[]> {
  const rows = await db.selectFrom('coupons').select('id').execute()
  return rows.map((r) => Number(r.id))
}

/** Coupons whose sale is open or opens within `withinMs`, with their MySQL stock. */
export async function selectCouponsOnSale(db: DB, withinMs: number) {
  const horizon = new Date(Date.now() + withinMs)
  return await db.selectFrom('coupons').select(['id', 'stock'])
    .where((eb) => eb.or([eb('sale_starts_at', 'is', null), eb('sale_starts_at', '<=', horizon)]))
    .where((eb) => eb.or([eb('sale_ends_at', 'is', null), eb('sale_ends_at', '>', new Date())]))
    .execute()
}
