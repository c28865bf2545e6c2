import type { Invalidation } from '../../cache/invalidation'
import type { RedisClient } from '../../redis/client'
import { channels, keys } from '../../redis/keys'
import { releaseScript } from '../../redis/scripts'
import type { FailureReason, OrderUpdate } from '../orders/schemas'
import type { OrderRow, OrderStatus } from '../../db/types'

export interface SettledOrder {
  orderId: string
  userId: number
  couponId: number
  status: Exclude<OrderStatus, 'PENDING'>
  reason?: FailureReason
}

/** A settled order as MySQL holds it. */
export function settledFromRow(row: Pick<OrderRow, 'id' | 'user_id' | 'coupon_id' | 'status' | 'reason'>): SettledOrder {
  return { orderId: row.id, userId: Number(row.user_id), couponId: Number(row.coupon_id), status: row.status as SettledOrder['status'], ...(row.reason ? { reason: row.reason as FailureReason } : {}) }
}

/**
 * The Redis side of a settled order, safe to repeat: each step acts only if it can still remove the
 * pending entry. Paid → drop the entry; failed for lack of money or a payment error → release the unit
 * (stock back, buyer removed); failed because Redis was wrong (sold out, already owned) → drop the entry.
 */
export async function finishInRedis(client: RedisClient, order: SettledOrder): Promise<void> {
  if (order.status === 'FAILED' && (order.reason === 'INSUFFICIENT_CREDIT' || order.reason === 'PAYMENT_ERROR')) {
    if (await releaseScript(client, order.couponId, order.orderId)) {
      // Stock came back: every instance drops its sold-out flag for this coupon.
      await client.publish(channels.cacheInvalidate, JSON.stringify({ couponId: order.couponId, reason: 'stock-returned' } satisfies Invalidation))
    }
    return
  }
  if (order.reason !== 'CANCELLED') await client.hdel(keys.pending(order.couponId), order.orderId)
}

/** Sends the result to every web instance holding a socket of the user (from the presence record). */
export async function notifyShopper(client: RedisClient, order: SettledOrder, now = Date.now()): Promise<number> {
  const servers = await client.zrangebyscore(keys.presence(order.userId), now, '+inf')
  const update: OrderUpdate = { type: 'order.updated', orderId: order.orderId, couponId: order.couponId, status: order.status, ...(order.reason ? { reason: order.reason } : {}) }
  const message = JSON.stringify({ userId: order.userId, update })
  await Promise.all(servers.map((serverId) => client.publish(channels.paymentUpdate(serverId), message)))
  return servers.length
}
