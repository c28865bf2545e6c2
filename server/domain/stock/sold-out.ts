import { LRUCache } from 'lru-cache'
import { onInvalidate } from '../../cache/invalidation'
import type { RedisClient } from '../../redis/client'
import { buyersSnapshot } from '../../redis/scripts'

/**
 * What this process knows about sold-out coupons, enough to answer a purchase without Redis: a flag
 * per coupon Redis just called sold out for good (no stock, nothing pending), and who holds a unit of
 * it — its buyer set, read once. A shopper in it is answered ALREADY_PURCHASED, everyone else SOLD_OUT:
 * what the reserve script answers then. With nothing pending, every buyer owns their unit (no order of
 * theirs is pending, so the script's PENDING cannot be the answer), and the script checks ownership
 * before the sale window and the stock; the waiting room's gate lets an owner through to it.
 *
 * Why the holders read once stay true while the flag is up: when the reserve script answered SOLD_OUT
 * nothing was pending, so every holder owned their unit; a new holder needs a unit, and a unit comes
 * back only through a script that restores stock or rewrites the buyers (a release, a cancel, a
 * repair or load), each of which is followed by `cache:invalidate` for the coupon, which drops the
 * flag and the holders here. An owner stops holding only through a repair (the buyers rewritten from
 * MySQL), which is followed by the same message. The holders are read with the stock and the pending
 * count as of one version (any change of stock, buyers or ledger bumps it) — the read itself shows the
 * coupon sold out — and installed only if no invalidation of the coupon reached this process since the
 * script that answered SOLD_OUT was sent: one that overtook the answer would otherwise be undone by it.
 *
 * A flag lives at most one second (on the monotonic clock: a wall-clock step cannot stretch it); the
 * next SOLD_OUT raises it again, and reuses the holders when the version has not moved. Every flag and
 * holder set goes when the invalidation subscription reconnects (couponId null): a missed message
 * must not keep a coupon "sold out".
 */
const FLAG_MS = 1_000
/** Buyer ids kept across coupons at most (each set is bounded by its coupon's stock). */
const MAX_HOLDERS = 500_000

interface Holders { version: string, soldOut: boolean, users: ReadonlySet<number> }
const flags = new Map<number, { until: number, holders: Holders }>()
const holders = new LRUCache<number, Holders>({ maxSize: MAX_HOLDERS, sizeCalculation: (h) => Math.max(1, h.users.size) })
const reading = new Map<number, Promise<Holders>>()

// Invalidations seen, in order: a flag learnt from an answer to a script sent before the coupon's
// (or every coupon's) last invalidation is not installed.
let seen = 0
const lastInvalidated = new Map<number, number>()
let lastInvalidatedAll = 0

/** The point in this process's invalidations that a script is sent at (see learnSoldOut). */
export function invalidationMark(): number {
  return seen
}

/**
 * The reserve script's answer that this process knows without Redis: SOLD_OUT when the coupon is sold
 * out for good and the user holds none of it, ALREADY_PURCHASED when they hold a unit of it;
 * undefined when it does not know (the script answers).
 */
export function knownSoldOutAnswer(
  couponId: number,
  userId: number,
  now = performance.now(),
): 'SOLD_OUT' | 'ALREADY_PURCHASED' | undefined {
  const flag = flags.get(couponId)
  if (!flag) return undefined
  if (flag.until <= now) {
    flags.delete(couponId)
    return undefined
  }
  return flag.holders.users.has(userId) ? 'ALREADY_PURCHASED' : 'SOLD_OUT'
}

/**
 * A script sent at `mark` answered SOLD_OUT (the reserve script with the coupon's `version`, the
 * waiting room's gate without one): raise the flag with the coupon's holders, read at most once per
 * version (concurrent callers share the read) along with the proof that it is sold out then. Not
 * raised when that read is of another version than the answer's, or the coupon was invalidated here
 * since the script was sent.
 */
export async function learnSoldOut(client: RedisClient, couponId: number, mark: number, version?: string): Promise<void> {
  let known = holders.get(couponId)
  if (!known || known.version !== version) {
    let read = reading.get(couponId)
    if (!read) {
      read = buyersSnapshot(client, couponId).then((s) => ({
        version: s.version,
        soldOut: s.soldOut,
        users: new Set(s.buyers.map(Number)),
      }))
      reading.set(couponId, read)
      read.finally(() => reading.delete(couponId)).catch(() => {})
    }
    known = await read
    if (invalidatedSince(couponId, mark)) return
    holders.set(couponId, known)
  }
  if (!known.soldOut || (version !== undefined && known.version !== version) || invalidatedSince(couponId, mark)) return
  flags.set(couponId, { until: performance.now() + FLAG_MS, holders: known })
}

function invalidatedSince(couponId: number, mark: number): boolean {
  return Math.max(lastInvalidated.get(couponId) ?? 0, lastInvalidatedAll) > mark
}

/** Drops what this process knows of a coupon's sale (or of every coupon's). */
export function forgetSoldOut(couponId?: number): void {
  seen++
  if (couponId === undefined) {
    lastInvalidatedAll = seen
    lastInvalidated.clear()
    flags.clear()
    holders.clear()
    return
  }
  lastInvalidated.set(couponId, seen)
  flags.delete(couponId)
  holders.delete(couponId)
}

onInvalidate(({ couponId }) => forgetSoldOut(couponId ?? undefined))
