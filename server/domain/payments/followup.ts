import { Cluster } from 'ioredis'
import type { Invalidation } from '../../cache/invalidation'
import type { RedisClient } from '../../redis/client'
import { channels, keys } from '../../redis/keys'
import { finishScript, presenceReadScript, type FollowUpAction } from '../../redis/scripts'
import type { FailureReason } from '../orders/schemas'
import { toUpdate, updateId, type PublishedUpdate } from '../orders/updates'
import type { OrderRow, OrderStatus } from '../../db/types'

export interface SettledOrder {
  orderId: string
  userId: number
  couponId: number
  status: Exclude<OrderStatus, 'PENDING'>
  reason?: FailureReason
  /** The redemption code of a PAID order. */
  code?: string
  /** `orders.updated_at` as written: the update's event id is made from it. */
  updatedAt?: Date
}

/** A settled order as MySQL holds it. */
export function settledFromRow(
  row: Pick<OrderRow, 'id' | 'user_id' | 'coupon_id' | 'status' | 'reason' | 'code' | 'updated_at'>,
): SettledOrder {
  return {
    orderId: row.id, userId: Number(row.user_id), couponId: Number(row.coupon_id), status: row.status as SettledOrder['status'],
    ...(row.reason ? { reason: row.reason as FailureReason } : {}),
    ...(row.status === 'PAID' && row.code ? { code: row.code } : {}),
    updatedAt: new Date(row.updated_at),
  }
}

/**
 * What an outcome does to its pending entry. ALREADY_PURCHASED and SOLD_OUT only happen when Redis
 * forgot something (an owner's earlier reservation, units MySQL no longer has); the decrement of this
 * reservation was the correction, so the unit stays taken: giving it back would create a phantom unit.
 */
export function followUpAction(order: SettledOrder): FollowUpAction {
  if (order.status === 'PAID') return 'drop'
  if (order.reason === 'ALREADY_PURCHASED') return 'keep-buyer'
  if (order.reason === 'SOLD_OUT') return 'drop-buyer'
  // INSUFFICIENT_CREDIT, PAYMENT_ERROR, and CANCELLED (heals an entry a lost cancel brought back).
  return 'release'
}

/**
 * The Redis side of settled orders, one script per coupon, safe to repeat: it acts only on entries
 * still there. Returns how many units came back.
 */
export async function finishInRedis(client: RedisClient, orders: SettledOrder[]): Promise<number> {
  const byCoupon = new Map<number, [string, FollowUpAction][]>()
  for (const o of orders) {
    const list = byCoupon.get(o.couponId) ?? []
    list.push([o.orderId, followUpAction(o)])
    byCoupon.set(o.couponId, list)
  }
  const results = await Promise.all([...byCoupon].map(async ([couponId, actions]) => {
    const { restored } = await finishScript(client, couponId, actions)
    // Stock came back: every instance drops its sold-out flag for this coupon.
    if (restored) {
      await client.publish(channels.cacheInvalidate, JSON.stringify({ couponId, reason: 'stock-returned' } satisfies Invalidation))
    }
    return restored
  }))
  return results.reduce((a, b) => a + b, 0)
}

/**
 * Sends the results to every web instance holding an `order.onUpdate` subscription of their shoppers,
 * with the event ids a replay from MySQL gives the same updates: one message per instance with all of
 * its updates (a JSON array), after one round trip that reads every shopper's presence and Redis'
 * clock they are judged on (one TIME for the batch). Returns how many updates were sent (one per instance told).
 */
export async function notifyShoppers(client: RedisClient, orders: SettledOrder[]): Promise<number> {
  if (!orders.length) return 0
  const present = await presences(client, orders.map((o) => o.userId))
  const byServer = new Map<string, PublishedUpdate[]>()
  orders.forEach((order, i) => {
    if (!present[i]!.length) return
    const update = toUpdate({
      id: order.orderId,
      coupon_id: order.couponId,
      status: order.status,
      reason: order.reason ?? null,
      code: order.code ?? null,
    })
    const message: PublishedUpdate = { userId: order.userId, id: updateId(order.updatedAt ?? new Date(), order.orderId), update }
    for (const serverId of present[i]!) {
      const updates = byServer.get(serverId)
      if (updates) updates.push(message)
      else byServer.set(serverId, [message])
    }
  })
  await Promise.all([...byServer].map(([serverId, updates]) => client.publish(channels.paymentUpdate(serverId), JSON.stringify(updates))))
  return [...byServer.values()].reduce((n, updates) => n + updates.length, 0)
}

/**
 * Each user's web instances whose presence has not expired (a presence counts until the time it is
 * scored with, on Redis' clock). One script on a single Redis server; on a Redis Cluster, whose slots
 * hold the users' keys apart, one read per user, sent with the TIME in one auto-pipelined round trip.
 */
async function presences(client: RedisClient, userIds: number[]): Promise<string[][]> {
  if (!(client instanceof Cluster)) return await presenceReadScript(client, userIds)
  const [[seconds, micros], ...scored] = await Promise.all([
    client.time(),
    ...userIds.map((id) => client.zrange(keys.presence(id), 0, -1, 'WITHSCORES')),
  ])
  const now = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000)
  return scored.map((pairs) => pairs.filter((_, i) => i % 2 === 0 && Number(pairs[i + 1]) >= now))
}
