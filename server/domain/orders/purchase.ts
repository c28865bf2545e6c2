import { db } from '../../db'
import { BatchingPublisher, createProducer, topics, type PaymentRequest } from '../../kafka/client'
import { redis } from '../../redis/client'
import { keys } from '../../redis/keys'
import { cancelScript, reserveScript, type Reservation } from '../../redis/scripts'
import { findCoupon } from '../coupons/catalogue'
import { DomainError } from '../errors'
import { serverId } from '../instance'
import { checkPurchaseRate } from '../ratelimit'
import { isFlaggedSoldOut, markSoldOut } from '../stock/sold-out'
import { loadCouponStock, stockIsLoaded } from '../stock/loader'
import { newOrderId } from './ids'
import { log } from '../../observability/log'
import { failpoint } from '../failpoints'

/** Publishing must answer well inside the reconciler's 10 s window, or the reservation is undone. */
const PUBLISH_TIMEOUT_MS = 3_000
const RECENT_ORDERS = 50

let publisher: BatchingPublisher | undefined
function paymentPublisher(): BatchingPublisher {
  publisher ??= new BatchingPublisher(createProducer(), topics.paymentRequests)
  return publisher
}

export async function closePaymentPublisher(): Promise<void> {
  await publisher?.close()
  publisher = undefined
}

// Whether Redis holds the stock it was given (its marker): after a data loss no sale may reserve
// until the reconciler has rebuilt stock and buyers. A present marker is trusted for a second per
// process; a missing one is asked again every time, so sales resume as soon as the rebuild is done.
let markerSeenAt = 0
async function salesOpen(now: number): Promise<boolean> {
  if (now - markerSeenAt <= 1_000) return true
  if (!(await stockIsLoaded(redis()))) return false
  markerSeenAt = now
  return true
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms) }),
  ]).finally(() => clearTimeout(timer))
}

function checkSaleWindow(saleStartsAt: string | null, saleEndsAt: string | null, now: number): void {
  if (saleStartsAt && Date.parse(saleStartsAt) > now) throw new DomainError('SALE_NOT_STARTED', 'The sale has not started yet')
  if (saleEndsAt && Date.parse(saleEndsAt) <= now) throw new DomainError('SALE_ENDED', 'The sale has ended')
}

/**
 * Reserves one coupon for a user and hands the payment to the workers (DESIGN.md, "Purchase flow").
 * Cheap refusals come first; the reservation itself is one Lua script; the answer is PENDING once
 * Kafka has acknowledged the payment event.
 */
export async function purchaseCoupon(userId: number, couponId: number, requestId: string): Promise<{ orderId: string, status: 'PENDING' }> {
  const coupon = await findCoupon(couponId)
  if (!coupon) throw new DomainError('NOT_FOUND', 'No such coupon')
  const now = Date.now()
  checkSaleWindow(coupon.saleStartsAt, coupon.saleEndsAt, now)
  if (isFlaggedSoldOut(couponId, now)) throw new DomainError('SOLD_OUT', 'Sold out')
  await checkPurchaseRate(userId)
  if (!(await salesOpen(now))) throw new DomainError('TRY_AGAIN_LATER', 'Stock is being rebuilt', 2)

  const client = redis()
  const orderId = newOrderId(couponId)
  const entry: Reservation = { state: 'reserved', userId, price: coupon.price, serverId, at: now, requestId }
  let result = await reserveScript(client, couponId, userId, orderId, entry)
  if (result.status === 'NOT_LOADED') {
    if (!(await loadCouponStock(client, db(), couponId))) throw new DomainError('TRY_AGAIN_LATER', 'Stock is being rebuilt', 2)
    result = await reserveScript(client, couponId, userId, orderId, entry)
  }
  switch (result.status) {
    case 'OK':
      break
    case 'SOLD_OUT':
      markSoldOut(couponId)
      throw new DomainError('SOLD_OUT', 'Sold out')
    case 'ALREADY_PURCHASED':
      throw new DomainError('ALREADY_PURCHASED', 'You already have this coupon')
    default:
      throw new DomainError('TRY_AGAIN_LATER', 'Stock is not available yet', 1)
  }
  if (result.stockLeft <= 0) markSoldOut(couponId)
  await failpoint('web.after-reserve')

  // Display index and dashboard counter: not part of the reservation, so outside the script.
  const second = Math.floor(now / 1000)
  client.multi()
    .lpush(keys.recentOrders(userId), orderId).ltrim(keys.recentOrders(userId), 0, RECENT_ORDERS - 1).expire(keys.recentOrders(userId), 86_400)
    .exec().catch(() => {})
  client.hincrby(keys.saleStats(couponId), String(second), 1).then(() => client.expire(keys.saleStats(couponId), 3_600)).catch(() => {})

  const event: PaymentRequest = { v: 1, orderId, userId, couponId, price: coupon.price, serverId, requestId, createdAt: new Date(now).toISOString() }
  try {
    await withTimeout(paymentPublisher().publish(orderId, event), PUBLISH_TIMEOUT_MS)
  } catch (error) {
    // Exactly one of cancel and claim wins: if a worker claimed it, the event did arrive.
    const outcome = await cancelScript(client, couponId, orderId)
    if (outcome === 'CANCELLED') {
      log.warn('payment event not published; reservation cancelled', { orderId, requestId, error: String(error) })
      throw new DomainError('TRY_AGAIN_LATER', 'Could not take the order right now, try again', 1)
    }
  }
  return { orderId, status: 'PENDING' }
}
