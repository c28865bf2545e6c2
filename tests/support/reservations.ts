import { redis } from '../../server/redis/client'
import { keys } from '../../server/redis/keys'
import { reserveScript } from '../../server/redis/scripts'
import { newOrderId } from '../../server/domain/orders/ids'

/**
 * A coupon that exists only in Redis (ids far above anything MySQL holds, so the audit ignores it),
 * loaded as the load script would leave a new coupon: stock and marker, no buyers.
 */
export async function redisOnlyCoupon(couponId: number, stock: number | null): Promise<number> {
  await redis().del(...keys.couponKeys(couponId))
  if (stock !== null) await redis().multi().set(keys.stock(couponId), stock).set(keys.loaded(couponId), 'test').exec()
  return couponId
}

/** Runs the reserve script as the web does (price 100, open window). */
export async function reserve(couponId: number, userId: number, orderId = newOrderId(couponId), price = 100) {
  return { orderId, ...await reserveScript(redis(), couponId, { userId, orderId, price, serverId: 'test', requestId: 'test' }) }
}
