import { sql, type Updateable } from 'kysely'
import type { DB } from '../../db'
import type { CouponRow, CouponsTable, NewCoupon } from '../../db/types'
import type { WaitingRoom } from '../queue/schemas'
import type { Coupon } from './schemas'

const COLUMNS = [
  'id',
  'name',
  'description',
  'image_url',
  'price',
  'total_stock',
  'stock',
  'sale_starts_at',
  'sale_ends_at',
  'created_at',
  'updated_at',
  'waiting_room_enabled',
  'waiting_room_admit_per_second',
  'waiting_room_admission_seconds',
] as const

type WaitingRoomColumns = 'waiting_room_enabled' | 'waiting_room_admit_per_second' | 'waiting_room_admission_seconds'

export function toCoupon(
  row: Pick<
    CouponRow,
    'id' | 'name' | 'description' | 'image_url' | 'price' | 'stock' | 'sale_starts_at' | 'sale_ends_at' | WaitingRoomColumns
  >,
): Coupon {
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
  return {
    enabled: Boolean(row.waiting_room_enabled),
    admitPerSecond: Number(row.waiting_room_admit_per_second),
    admissionSeconds: Number(row.waiting_room_admission_seconds),
  }
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

/** Coupons whose sale has not ended, or ended less than `endedWithinMs` ago. */
export async function selectRecentCouponIds(db: DB, endedWithinMs: number): Promise<number[]> {
  const since = new Date(Date.now() - endedWithinMs)
  const rows = await db.selectFrom('coupons').select('id')
    .where((eb) => eb.or([eb('sale_ends_at', 'is', null), eb('sale_ends_at', '>', since)]))
    .execute()
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

/** The new coupon's id. */
export async function insertCoupon(db: DB, coupon: NewCoupon): Promise<number> {
  const result = await db.insertInto('coupons').values(coupon).executeTakeFirstOrThrow()
  return Number(result.insertId)
}

export async function insertCoupons(db: DB, coupons: NewCoupon[]): Promise<void> {
  await db.insertInto('coupons').values(coupons).execute()
}

export async function countCoupons(db: DB): Promise<number> {
  const row = await db.selectFrom('coupons').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()
  return Number(row.n)
}

export async function selectSaleWindow(db: DB, id: number) {
  return await db.selectFrom('coupons').select(['sale_starts_at', 'sale_ends_at']).where('id', '=', id).executeTakeFirst()
}

/** The coupon's row locked until the transaction `trx` ends: its stock and whether its waiting room is on. */
export async function lockCoupon(trx: DB, id: number) {
  const row = await trx
    .selectFrom('coupons')
    .select(['stock', 'waiting_room_enabled'])
    .where('id', '=', id)
    .forUpdate()
    .executeTakeFirstOrThrow()
  return { stock: Number(row.stock), waitingRoomEnabled: Boolean(row.waiting_room_enabled) }
}

/** Sets `changes` and moves stock and total stock by `stockDelta` together. */
export async function updateCouponRow(db: DB, id: number, changes: Updateable<CouponsTable>, stockDelta: number): Promise<void> {
  await db.updateTable('coupons').set({
    ...changes,
    stock: sql`stock + ${stockDelta}`,
    total_stock: sql`total_stock + ${stockDelta}`,
    updated_at: new Date(),
  }).where('id', '=', id).execute()
}

/** What the sale dashboard shows of the row: stock figures and the waiting room's settings. */
export async function selectSaleFigures(db: DB, id: number) {
  return await db.selectFrom('coupons')
    .select(['total_stock', 'stock', 'waiting_room_enabled', 'waiting_room_admit_per_second', 'waiting_room_admission_seconds'])
    .where('id', '=', id).executeTakeFirst()
}

/** MySQL's stock of each coupon of `ids` that exists. */
export async function selectStocks(db: DB, ids: number[]): Promise<Map<number, number>> {
  if (!ids.length) return new Map()
  const rows = await db.selectFrom('coupons').select(['id', 'stock']).where('id', 'in', ids).execute()
  return new Map(rows.map((r) => [Number(r.id), Number(r.stock)]))
}

/** Every coupon's total and MySQL stock. */
export async function selectAllStocks(db: DB) {
  const rows = await db.selectFrom('coupons').select(['id', 'total_stock', 'stock']).execute()
  return rows.map((r) => ({ id: Number(r.id), totalStock: Number(r.total_stock), stock: Number(r.stock) }))
}

// ------------------------------------------------------------------ holdings (user_coupons)

/** The users holding the coupon (its owners), as the buyer set writes them. */
export async function selectOwnerIds(db: DB, couponId: number): Promise<string[]> {
  const rows = await db.selectFrom('user_coupons').select('user_id').where('coupon_id', '=', couponId).execute()
  return rows.map((r) => String(r.user_id))
}

/** How many users hold each coupon of `ids` (absent: none). */
export async function countOwners(db: DB, ids: number[]): Promise<Map<number, number>> {
  if (!ids.length) return new Map()
  const rows = await db.selectFrom('user_coupons').select(['coupon_id', (eb) => eb.fn.countAll<number>().as('n')])
    .where('coupon_id', 'in', ids).groupBy('coupon_id').execute()
  return new Map(rows.map((r) => [Number(r.coupon_id), Number(r.n)]))
}
