import { LRUCache } from 'lru-cache'
import { db } from '../../db'
import { redis } from '../../redis/client'
import { keys } from '../../redis/keys'
import { DomainError } from '../errors'
import { selectCoupon, selectCouponPage, toCoupon } from './repository'
import type { Coupon, CouponPage } from './schemas'

// L1: this process's cache of coupons (without live stock), used by every purchase.
const couponsL1 = new LRUCache<number, Coupon | 'missing'>({ max: 10_000, ttl: 30_000 })

/** A coupon as cached (its `stock` may be stale); null for an unknown id. */
export async function findCoupon(id: number): Promise<Coupon | null> {
  const cached = couponsL1.get(id)
  if (cached !== undefined) return cached === 'missing' ? null : cached
  const row = await selectCoupon(db(), id)
  const coupon = row ? toCoupon(row) : null
  couponsL1.set(id, coupon ?? 'missing', coupon ? {} : { ttl: 5_000 })
  return coupon
}

/** A coupon with its live stock from Redis. */
export async function getCoupon(id: number): Promise<Coupon> {
  const coupon = await findCoupon(id)
  if (!coupon) throw new DomainError('NOT_FOUND', 'No such coupon')
  const live = await redis().get(keys.stock(id))
  return live === null ? coupon : { ...coupon, stock: Math.max(0, Number(live)) }
}

export async function listCoupons(page: number, pageSize: number): Promise<CouponPage> {
  const { items, total } = await selectCouponPage(db(), page, pageSize)
  return { items, page, pageSize, total }
}

/** Forgets this process's cached copies (all of them, or one coupon's). */
export function forgetCoupons(couponId?: number): void {
  if (couponId === undefined) couponsL1.clear()
  else couponsL1.delete(couponId)
}
