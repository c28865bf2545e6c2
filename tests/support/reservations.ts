import { redis } from '../../server/redis/client'
import { keys } from '../../server/redis/keys'
import { reserveScript } from '../../server/redis/scripts'
import { newOrderId } from '../../server/domain/orders/ids'
import type { PaymentRequest } from '../../server/kafka/client'

/**
 * A coupon that exists only in Redis (ids far above anything MySQL holds, so the audit ignores it),
 * loaded as the load script would leave a new coupon: stock and marker, no buyers.
 */
export async function redisOnlyCoupon(couponId: number, stock: number | null): Promise<number> {
  await redis().del(...keys.couponKeys(couponId))
  if (stock !== null) await redis().multi().set(keys.stock(couponId), stock).set(keys.loaded(couponId), 'test').exec()
  return couponId
}

/** The payment event the web publishes for a reservation (price 100 and made now unless given). */
export function paymentEvent(e: Pick<PaymentRequest, 'orderId' | 'userId' | 'couponId'> & Partial<PaymentRequest>): PaymentRequest {
  return { v: 1, price: 100, serverId: 'test', requestId: 'test', createdAt: new Date().toISOString(), ...e }
}

/** Runs the reserve script as the web does (price 100, open window). */
export async function reserve(couponId: number, userId: number, orderId = newOrderId(couponId), price = 100) {
  return { orderId, ...await reserveScript(redis(), couponId, { userId, orderId, price, serverId: 'test', requestId: 'test' }) }
}
