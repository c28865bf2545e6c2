import { onInvalidate } from '../../cache/invalidation'

/**
 * Per-process sold-out flags: a coupon Redis just called sold out is refused without running the
 * reserve script (a shopper who holds a unit is still told so: server/domain/orders/purchase.ts).
 * A flag lives at most one second (on the monotonic clock: a wall-clock step cannot stretch it), and
 * is dropped early when stock comes back or a coupon changes (cache:invalidate), and all of them when
 * that subscription reconnects (couponId null), since a missed message must not keep a coupon "sold out".
 */
const FLAG_MS = 1_000
const flags = new Map<number, number>()

export function markSoldOut(couponId: number, now = performance.now()): void {
  flags.set(couponId, now + FLAG_MS)
}

export function isFlaggedSoldOut(couponId: number, now = performance.now()): boolean {
  const until = flags.get(couponId)
  if (until === undefined) return false
  if (until > now) return true
  flags.delete(couponId)
  return false
}

export function clearSoldOut(couponId?: number): void {
  if (couponId === undefined) flags.clear()
  else flags.delete(couponId)
}

onInvalidate(({ couponId }) => clearSoldOut(couponId ?? undefined))
