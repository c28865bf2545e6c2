import type { DB } from '../../db'
import { selectCouponsOnSale } from '../coupons/repository'
import type { RedisClient } from '../../redis/client'
import { channels, keys } from '../../redis/keys'

/** Whether Redis still holds the stock it was given (its marker vanishes when Redis loses its data). */
export async function stockIsLoaded(client: RedisClient): Promise<boolean> {
  return (await client.exists(keys.stockLoaded)) === 1
}

/**
 * Loads one coupon's stock from MySQL unless Redis already has it: SET NX never overwrites a live
 * count. Returns false while Redis is being rebuilt after a data loss (sales must wait).
 */
export async function loadCouponStock(client: RedisClient, db: DB, couponId: number): Promise<boolean> {
  if (!(await stockIsLoaded(client))) return false
  const row = await db.selectFrom('coupons').select('stock').where('id', '=', couponId).executeTakeFirst()
  if (!row) return true
  await client.set(keys.stock(couponId), Number(row.stock), 'NX')
  return true
}

/** Loads the stock of coupons on sale or opening soon; never overwrites live counts. */
export async function preloadStock(client: RedisClient, db: DB, withinMs = 10 * 60_000): Promise<number> {
  if (!(await stockIsLoaded(client))) return 0
  const coupons = await selectCouponsOnSale(db, withinMs)
  await Promise.all(coupons.map((c) => client.set(keys.stock(Number(c.id)), Number(c.stock), 'NX')))
  return coupons.length
}

/**
 * Rebuilds Redis from MySQL after a data loss: stock = MySQL stock, buyers = user_coupons. Only safe
 * once no payment event is in flight (the caller checks that Kafka is drained), because then MySQL
 * holds every settled purchase and no reservation can exist (sales answer TRY_AGAIN_LATER meanwhile).
 */
export async function rebuildStock(client: RedisClient, db: DB): Promise<number> {
  const coupons = await db.selectFrom('coupons').select(['id', 'stock']).execute()
  for (const { id, stock } of coupons) {
    const couponId = Number(id)
    const buyers = await db.selectFrom('user_coupons').select('user_id').where('coupon_id', '=', couponId).execute()
    await client.del(keys.buyers(couponId), keys.pending(couponId))
    if (buyers.length) await client.sadd(keys.buyers(couponId), ...buyers.map((b) => String(b.user_id)))
    await client.set(keys.stock(couponId), Number(stock))
  }
  await client.set(keys.stockLoaded, new Date().toISOString())
  await client.publish(channels.cacheInvalidate, JSON.stringify({ couponId: null, reason: 'stock-rebuilt' }))
  return coupons.length
}
