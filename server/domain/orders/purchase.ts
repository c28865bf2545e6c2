import { ReplyError } from 'ioredis'
import { config } from '../../config'
import { db } from '../../db'
import { BatchingPublisher, createProducer, topics, type PaymentRequest } from '../../kafka/client'
import { redis } from '../../redis/client'
import { cancelScript } from '../../redis/scripts'
import { findCoupon } from '../coupons/catalogue'
import { DomainError } from '../errors'
import { failpoint } from '../failpoints'
import { serverId } from '../instance'
import { isTransient, PUBLISH_TIMEOUT_MS } from '../payments/events'
import { recordFailure } from '../payments/settle'
import { invalidationMark, knownSoldOutAnswer, learnSoldOut } from '../stock/sold-out'
import { admissionUsed, checkAdmission, notAdmitted } from '../queue/gate'
import { queueFeed } from '../queue/service'
import { newOrderId } from './ids'
import { reserveCounted, type CountedReservation } from './reserve'
import { log } from '../../observability/log'
import { publishInvalidation } from '../../cache/invalidation'

/**
 * How long a purchase may take. Past it, the answer is OUTCOME_UNKNOWN once the reserve was sent (it
 * may hold a unit and be charged; the work goes on and settles it either way), TRY_AGAIN_LATER before
 * (and nothing is sent after). Below NGINX's 4.8 s proxy_read_timeout, so the shopper gets the app's answer.
 */
export const PURCHASE_DEADLINE_MS = 4_000

let publisher: BatchingPublisher | undefined
function paymentPublisher(): BatchingPublisher {
  publisher ??= new BatchingPublisher(createProducer(), topics.paymentRequests, config().PUBLISH_INTERVAL_MS)
  return publisher
}

/**
 * Connects this instance's payment publisher: at start (server/plugins/payment-publisher.ts), so the
 * first purchases do not wait for it, and from /readyz, which reports Kafka ready only once it is.
 */
export function connectPaymentPublisher(): Promise<void> {
  return paymentPublisher().connect()
}

export async function closePaymentPublisher(): Promise<void> {
  await publisher?.close()
  publisher = undefined
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms) }),
  ]).finally(() => clearTimeout(timer))
}

const tryAgain = (message: string, seconds = 1) => new DomainError('TRY_AGAIN_LATER', message, seconds)
const busy = () => tryAgain('The shop is busy right now, try again')

/** An outage before anything was reserved: the honest answer is TRY_AGAIN_LATER, never a 500. */
function outageRefusal(error: unknown): unknown {
  if (error instanceof DomainError || !isTransient(error)) return error
  return busy()
}
function refuseDuringOutage(error: unknown): never {
  throw outageRefusal(error)
}

const ms = (iso: string | null) => (iso ? Date.parse(iso) : null)

type Placed = { orderId: string, status: 'PENDING' }
/** Where one purchase stands, for its deadline: whether the reserve went out, and whether it was given up. */
interface Attempt { reserveSent: boolean, abandoned: boolean }

/**
 * Reserves one coupon for a user and hands the payment to the workers (docs/architecture.md, "The
 * purchase flow"), within PURCHASE_DEADLINE_MS. A shopper whose own reservation is still pending gets
 * that order back.
 */
export async function purchaseCoupon(userId: number, couponId: number, requestId: string): Promise<Placed> {
  const attempt: Attempt = { reserveSent: false, abandoned: false }
  const work = placeOrder(userId, couponId, requestId, attempt)
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      attempt.abandoned = true
      reject(attempt.reserveSent ? new DomainError('OUTCOME_UNKNOWN', 'No answer in time: your order may or may not have been taken; it shows under My account if it was') : busy())
    }, PURCHASE_DEADLINE_MS)
  })
  try {
    return await Promise.race([work, deadline])
  } catch (error) {
    if (attempt.abandoned) {
      work.then(
        (placed) => log.info('purchase placed after its deadline', { requestId, ...placed }),
        (late: unknown) => log.info('purchase refused after its deadline', { requestId, error: late }),
      )
    }
    throw error
  } finally {
    clearTimeout(timer)
  }
}

const soldOut = () => new DomainError('SOLD_OUT', 'Sold out')
const alreadyPurchased = () => new DomainError('ALREADY_PURCHASED', 'You already have this coupon')

/**
 * The answer this instance can give from what it knows, without Redis or the per-call machinery (the
 * fast lane asks before calling the procedure): the coupon is sold out for good, so SOLD_OUT to a
 * shopper who holds none of it and ALREADY_PURCHASED to one who holds a unit (what the reserve script
 * answers then: server/domain/stock/sold-out.ts); or its waiting room cannot have admitted this
 * shopper yet (server/domain/queue/feed.ts, notAdmitted).
 */
export function knownPurchaseRefusal(userId: number, couponId: number): DomainError | undefined {
  const known = knownSoldOutAnswer(couponId, userId)
  if (known) return KNOWN_REFUSALS[known]
  if (queueFeed().notAdmitted(couponId, userId)) return KNOWN_REFUSALS.NOT_ADMITTED
  return undefined
}
/** The same answers every time, so one instance each (a DomainError carries no stack, and nothing changes one). */
const KNOWN_REFUSALS = { SOLD_OUT: soldOut(), ALREADY_PURCHASED: alreadyPurchased(), NOT_ADMITTED: notAdmitted() }

/**
 * Cheap refusals come first; the reservation itself is one Lua script; the answer is PENDING once
 * Kafka has acknowledged the payment event. No MySQL on this path unless the outcome is ambiguous.
 * The sale window is left to the script (Redis' clock): no decision here rests on this instance's clock.
 */
async function placeOrder(userId: number, couponId: number, requestId: string, attempt: Attempt): Promise<Placed> {
  const coupon = await findCoupon(couponId).catch(refuseDuringOutage)
  if (!coupon) throw new DomainError('NOT_FOUND', 'No such coupon')
  const known = knownPurchaseRefusal(userId, couponId)
  if (known) throw known
  await checkAdmission(coupon, userId)

  const client = redis()
  const orderId = newOrderId(couponId)
  const event: PaymentRequest = {
    v: 1,
    orderId,
    userId,
    couponId,
    price: coupon.price,
    serverId,
    requestId,
    createdAt: new Date().toISOString(),
  }
  if (attempt.abandoned) throw busy() // past the deadline, answered TRY_AGAIN_LATER: nothing may be sent now
  const mark = invalidationMark()
  attempt.reserveSent = true
  let counted: CountedReservation
  try {
    counted = await reserveCounted(client, couponId, {
      userId, orderId, price: coupon.price, serverId, requestId, saleStartsAt: ms(coupon.saleStartsAt), saleEndsAt: ms(coupon.saleEndsAt),
    })
  } catch (error) {
    // A Redis reply (READONLY, OOM, CLUSTERDOWN…) means the script did not run. Anything else (a
    // connection cut) is ambiguous: the reservation may exist, so it is undone like a failed publish.
    if (error instanceof ReplyError) refuseDuringOutage(error)
    return await undoReservation(event, error)
  }
  if ('refusal' in counted) {
    const refusal = outageRefusal(counted.refusal)
    if (counted.heldUnit) return await undoReservation(event, refusal, refusal)
    throw refusal
  }
  const result = counted.answer
  switch (result.status) {
    case 'OK':
      break
    case 'PENDING': // an earlier attempt of this shopper holds a unit: that order is the answer
      return { orderId: result.ownOrderId!, status: 'PENDING' }
    case 'SOLD_OUT':
      learnSoldOut(client, couponId, mark, result.version).catch((error: unknown) => log.warn('sold-out flag not raised: buyers unreadable', { couponId, error }))
      throw soldOut()
    case 'HELD':
      throw tryAgain('All units are held by pending orders; some may come back', 2)
    case 'ALREADY_PURCHASED':
      throw alreadyPurchased()
    case 'SALE_NOT_STARTED':
      throw new DomainError('SALE_NOT_STARTED', 'The sale has not started yet')
    case 'SALE_ENDED':
      throw new DomainError('SALE_ENDED', 'The sale has ended')
    default: // NOT_LOADED (the reconciler is loading it) or REPAIRING
      throw tryAgain('Stock is being checked, try again in a moment', 2)
  }

  admissionUsed(coupon, userId)

  try {
    await failpoint('web.after-reserve')
    await withTimeout(paymentPublisher().publish(orderId, event), PUBLISH_TIMEOUT_MS)
  } catch (error) {
    return await undoReservation(event, error)
  }
  return { orderId, status: 'PENDING' }
}

/**
 * The event may not have reached Kafka (or the reservation may not have reached Redis). Exactly one
 * of cancel and claim wins; when the cancel finds nothing (settled and followed up, or lost with
 * Redis data) or cannot run, a tombstone in MySQL decides: once it is in, nothing can charge the
 * order. A shopper is never told TRY_AGAIN_LATER for an order that can still be charged.
 */
async function undoReservation(event: PaymentRequest, why: unknown, refusal: unknown = tryAgain('Could not take the order right now, try again')): Promise<Placed> {
  const { orderId, couponId, requestId } = event
  const pending = { orderId, status: 'PENDING' as const }
  const outcome = await cancelScript(redis(), couponId, orderId).catch((error) => {
    log.warn('cancel failed; writing a tombstone', { orderId, requestId, error })
    return 'UNKNOWN' as const
  })
  log.warn('payment event not published', { orderId, requestId, outcome, error: why })
  if (outcome === 'CANCELLED') {
    // A unit came back: no instance may go on calling the coupon sold out (server/domain/stock/sold-out.ts).
    publishInvalidation({ couponId, reason: 'stock-returned' }).catch((error) =>
      log.warn('invalidation after a cancel not sent', { couponId, error }),
    )
    // Best effort: should Redis later forget this cancel, the entry it brings back finds the order
    // settled (FAILED/CANCELLED) and is released, never re-published and charged.
    await recordFailure(db(), event, 'CANCELLED').catch((error) => log.warn('tombstone of a cancelled order not written', { orderId, requestId, error }))
    throw refusal
  }
  if (outcome === 'CLAIMED') return pending
  try {
    const { inserted } = await recordFailure(db(), event, 'CANCELLED')
    if (inserted) throw refusal
    return pending // a row exists: order.get tells its outcome
  } catch (error) {
    if (error === refusal) throw error
    log.warn('tombstone not written; the order may exist', { orderId, requestId, error })
    return pending
  }
}
