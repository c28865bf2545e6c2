import { randomBytes } from 'node:crypto'
import { ReplyError } from 'ioredis'
import { db } from '../../db'
import { redis } from '../../redis/client'
import { queueJoinScript } from '../../redis/scripts'
import { metrics } from '../../observability/metrics'
import { findCoupon } from '../coupons/catalogue'
import { DomainError } from '../errors'
import { isTransient } from '../payments/events'
import { checkProof, issueChallenge, type Challenge, type ProofProblem } from './challenge'
import { QueueFeed, type QueueListener } from './feed'
import { PlaceRecorder } from './repository'
import type { QueueStatus } from './schemas'

/*
 * The waiting room's procedures (docs/architecture.md, "The waiting room"): a challenge, a join that
 * pays for it with a proof of work, and the shopper's status, read or watched.
 */

let feed: QueueFeed | undefined
/** This instance's waiting-room feed. */
export function queueFeed(): QueueFeed {
  if (!feed) {
    const created = new QueueFeed({ redis, coupon: findCoupon })
    // A Redis that reconnected may have lost its last writes: places read before are read again.
    redis().on('ready', () => created.forgetPlaces())
    feed = created
  }
  return feed
}

let recorder: PlaceRecorder | undefined
const places = () => (recorder ??= new PlaceRecorder(db))

/** An outage is TRY_AGAIN_LATER, never a 500; the place (if it was taken) is kept and found again. */
function unavailable(error: unknown): never {
  if (error instanceof DomainError) throw error
  if (isTransient(error) || error instanceof ReplyError) throw new DomainError('TRY_AGAIN_LATER', 'The waiting room is busy right now; try again', 1)
  throw error
}

async function roomOf(couponId: number) {
  const coupon = await findCoupon(couponId).catch(unavailable)
  if (!coupon) throw new DomainError('NOT_FOUND', 'No such coupon')
  return coupon
}

export async function queueChallenge(userId: number, couponId: number): Promise<Challenge> {
  await roomOf(couponId)
  return issueChallenge(couponId, userId)
}

const PROOF_MESSAGES: Record<ProofProblem, string> = {
  'malformed': 'This is not a challenge of this shop; ask for a new one',
  'not-yours': 'This challenge was issued to another shopper or for another coupon',
  'expired': 'The challenge has expired; ask for a new one',
  'insufficient': 'The nonce does not solve the challenge',
}

/** A random score in [0, 1) for a join before the opening (53 random bits). */
function randomScore(): number {
  const bits = randomBytes(8)
  return (bits.readUInt32BE(0) * 2 ** 21 + (bits.readUInt32BE(4) >>> 11)) / 2 ** 53
}

export async function joinQueue(userId: number, couponId: number, challenge: string, nonce: string): Promise<QueueStatus> {
  const coupon = await roomOf(couponId)
  const problem = checkProof(challenge, nonce, couponId, userId)
  if (problem) {
    metrics.queueProofFailures.inc({ problem })
    throw new DomainError('INVALID_INPUT', PROOF_MESSAGES[problem])
  }
  if (!coupon.waitingRoom?.enabled) return { state: 'CLOSED' }
  const window = {
    startsAt: coupon.saleStartsAt ? Date.parse(coupon.saleStartsAt) : null,
    endsAt: coupon.saleEndsAt ? Date.parse(coupon.saleEndsAt) : null,
  }
  const joined = await queueJoinScript(redis(), couponId, userId, randomScore(), window).catch(unavailable)
  if (joined.status === 'CLOSED') return { state: 'CLOSED' }
  if (joined.status === 'ALREADY_PURCHASED') throw new DomainError('ALREADY_PURCHASED', 'You already have this coupon')
  // Answered only once the place is recorded outside Redis (so a Redis that loses it puts it back).
  // A failure here keeps the place in Redis; joining again keeps it too and records it.
  await places()
    .record({ couponId, userId, turn: joined.turn, score: Number(joined.score), joinedAt: new Date(joined.now) })
    .catch(unavailable)
  metrics.queueJoins.inc({ result: joined.status === 'JOINED' ? 'joined' : 'kept' })
  const f = queueFeed()
  if (joined.status === 'JOINED') {
    f.remember(couponId, userId, {
      turn: joined.turn,
      joined: true,
      position: joined.rank === null ? null : joined.rank + 1,
      admittedUntil: null,
    })
  }
  return await f.status(couponId, userId).catch(unavailable)
}

export async function queueStatusOf(userId: number, couponId: number): Promise<QueueStatus> {
  await roomOf(couponId)
  return await queueFeed().status(couponId, userId).catch(unavailable)
}

/** queue.onStatus: the current status, then its changes. Returns the function that stops watching. */
export async function watchQueue(userId: number, couponId: number, listener: QueueListener): Promise<() => void> {
  await roomOf(couponId)
  return await queueFeed().watch(couponId, userId, listener).catch(unavailable)
}
