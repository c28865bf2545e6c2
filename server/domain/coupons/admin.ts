import { sql } from 'kysely'
import { db } from '../../db'
import { redis } from '../../redis/client'
import { keys } from '../../redis/keys'
import { adjustStockScript } from '../../redis/scripts'
import { DomainError } from '../errors'
import { stockIsLoaded } from '../stock/loader'
import { invalidateCoupon } from './catalogue'
import type { CreateCouponInput, UpdateCouponInput } from './schemas'

const toDate = (iso: string | null | undefined) => (iso ? new Date(iso) : null)

export async function createCoupon(input: CreateCouponInput): Promise<{ id: number }> {
  const result = await db().insertInto('coupons').values({
    name: input.name,
    description: input.description,
    image_url: input.imageUrl ?? null,
    price: input.price,
    total_stock: input.stock,
    stock: input.stock,
    sale_starts_at: toDate(input.saleStartsAt),
    sale_ends_at: toDate(input.saleEndsAt),
  }).executeTakeFirstOrThrow()
  const id = Number(result.insertId)
  // While Redis is being rebuilt after a data loss, the rebuild loads every coupon itself.
  if (await stockIsLoaded(redis())) await redis().set(keys.stock(id), input.stock, 'NX')
  await invalidateCoupon(id)
  return { id }
}

/** Stock changes are deltas applied to Redis (refusing to remove units already reserved) and MySQL, never overwrites. */
export async function updateCoupon(input: UpdateCouponInput): Promise<{ id: number }> {
  const current = await db().selectFrom('coupons').select(['id', 'sale_starts_at', 'sale_ends_at']).where('id', '=', input.id).executeTakeFirst()
  if (!current) throw new DomainError('NOT_FOUND', 'No such coupon')
  const starts = input.saleStartsAt === undefined ? current.sale_starts_at : toDate(input.saleStartsAt)
  const ends = input.saleEndsAt === undefined ? current.sale_ends_at : toDate(input.saleEndsAt)
  if (starts && ends && starts >= ends) throw new DomainError('INVALID_INPUT', 'saleEndsAt must be after saleStartsAt')

  const delta = input.stockDelta ?? 0
  const live = delta ? await adjustStockScript(redis(), input.id, delta) : 'NOT_LOADED'
  if (live === 'INSUFFICIENT') throw new DomainError('INVALID_INPUT', 'Cannot remove more units than are left')
  try {
    const updated = await db().updateTable('coupons').set({
      ...(input.name !== undefined ? { name: input.name } : {}),
      ...(input.description !== undefined ? { description: input.description } : {}),
      ...(input.price !== undefined ? { price: input.price } : {}),
      ...(input.imageUrl !== undefined ? { image_url: input.imageUrl } : {}),
      ...(input.saleStartsAt !== undefined ? { sale_starts_at: starts } : {}),
      ...(input.saleEndsAt !== undefined ? { sale_ends_at: ends } : {}),
      stock: sql`stock + ${delta}`,
      total_stock: sql`total_stock + ${delta}`,
      updated_at: new Date(),
    }).where('id', '=', input.id).where(sql<boolean>`stock + ${delta} >= 0`).executeTakeFirst()
    if (Number(updated.numUpdatedRows) !== 1) throw new DomainError('INVALID_INPUT', 'Cannot remove more units than are left')
  } catch (error) {
    if (typeof live === 'number') await redis().incrby(keys.stock(input.id), -delta)
    throw error
  }
  await invalidateCoupon(input.id)
  return { id: input.id }
}

export async function saleStats(couponId: number) {
  const coupon = await db().selectFrom('coupons').select(['total_stock', 'stock']).where('id', '=', couponId).executeTakeFirst()
  if (!coupon) throw new DomainError('NOT_FOUND', 'No such coupon')
  const nowSecond = Math.floor(Date.now() / 1000)
  const seconds = Array.from({ length: 60 }, (_, i) => String(nowSecond - 59 + i))
  const [live, pending, perSecond, counts] = await Promise.all([
    redis().get(keys.stock(couponId)),
    redis().hlen(keys.pending(couponId)),
    redis().hmget(keys.saleStats(couponId), ...seconds),
    db().selectFrom('orders').select(['status', (eb) => eb.fn.countAll<number>().as('n')]).where('coupon_id', '=', couponId).groupBy('status').execute(),
  ])
  const count = (status: string) => Number(counts.find((c) => c.status === status)?.n ?? 0)
  return {
    couponId,
    totalStock: Number(coupon.total_stock),
    stockLeft: live === null ? Number(coupon.stock) : Math.max(0, Number(live)),
    pending,
    paid: count('PAID'),
    failed: count('FAILED'),
    ordersPerSecond: perSecond.map((n) => Number(n ?? 0)),
  }
}
