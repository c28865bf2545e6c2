import { Cluster } from 'ioredis'
import type { RedisClient } from '../../redis/client'
import { keys } from '../../redis/keys'
import { purchaseScript, pushRecentScript, reserveScript, type ReserveAnswer, type ReserveRequest } from '../../redis/scripts'
import { countPurchaseAttempt, knownLimited, noteLimited, purchaseRateWindow, rateLimited } from '../ratelimit'

/** How many of a shopper's latest order ids their recent list keeps (order.mine reads it), and for how long. */
const RECENT = { keep: 50, ttlSeconds: 86_400 }

/**
 * The reserve script's answer to an attempt within the shopper's rate limit; or the refusal of one
 * over it (RATE_LIMITED), or of one whose count failed (that error), with `heldUnit` when the
 * reservation was made all the same and must be undone.
 */
export type CountedReservation = { answer: ReserveAnswer } | { refusal: unknown, heldUnit: boolean }

/**
 * Reserves a unit for one purchase attempt, counted in the shopper's rate limit (refused before any
 * I/O for a shopper this instance saw over it in the current window), and on OK puts the order at the
 * head of the shopper's recent list. Rejects when the reserve itself failed (it may have run).
 *
 * On a single Redis server one script does all three (lua/purchase-10.lua): an attempt over the
 * limit reserves nothing. On a Redis Cluster, whose slots hold the three keys apart, the count and the
 * reserve are written in one tick, so ioredis' auto-pipelining sends them together, and the list is
 * sent after an OK, not waited for; there an attempt over the limit may have reserved a unit.
 */
export async function reserveCounted(client: RedisClient, couponId: number, request: ReserveRequest): Promise<CountedReservation> {
  const { userId, orderId } = request
  const rate = purchaseRateWindow(userId)
  if (rate.limit > 0 && knownLimited(userId)) return { refusal: rateLimited(), heldUnit: false }
  const recent = { key: keys.recentOrders(userId), ...RECENT }
  if (!(client instanceof Cluster)) {
    const answer = await purchaseScript(client, couponId, request, rate, recent)
    if (answer.status !== 'RATE_LIMITED') return { answer }
    noteLimited(userId, answer.msLeft)
    return { refusal: rateLimited(), heldUnit: false }
  }
  const [allowed, reserved] = await Promise.allSettled([countPurchaseAttempt(userId), reserveScript(client, couponId, request)])
  if (reserved.status === 'rejected') throw reserved.reason
  const answer = reserved.value
  if (allowed.status === 'rejected' || !allowed.value) {
    return { refusal: allowed.status === 'rejected' ? allowed.reason : rateLimited(), heldUnit: answer.status === 'OK' }
  }
  if (answer.status === 'OK') pushRecentScript(client, recent.key, orderId, recent.keep, recent.ttlSeconds).catch(() => {})
  return { answer }
}
