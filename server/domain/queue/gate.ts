import { ReplyError } from 'ioredis'
import { redis } from '../../redis/client'
import { keys } from '../../redis/keys'
import { queueGateScript } from '../../redis/scripts'
import type { Coupon } from '../coupons/schemas'
import { DomainError } from '../errors'
import { isTransient } from '../payments/events'
import { invalidationMark, learnSoldOut } from '../stock/sold-out'
import { log } from '../../observability/log'
import { queueFeed } from './service'

/**
 * The purchase's waiting-room gate, before the reserve script (which it never touches): on a coupon
 * whose room is enabled, only a shopper with a live admission of their own for it goes on.
 */
export async function checkAdmission(coupon: Coupon, userId: number): Promise<void> {
  if (!coupon.waitingRoom?.enabled) return
  const mark = invalidationMark()
  const gate = await queueGateScript(redis(), coupon.id, userId).catch((error: unknown) => {
    if (isTransient(error) || error instanceof ReplyError) {
      throw new DomainError('TRY_AGAIN_LATER', 'The shop is busy right now, try again', 1)
    }
    throw error
  })
  if (gate === 'ADMITTED') return
  if (gate === 'SOLD_OUT') {
    learnSoldOut(redis(), coupon.id, mark).catch((error: unknown) => log.warn('sold-out flag not raised: buyers unreadable', { couponId: coupon.id, error }))
    throw new DomainError('SOLD_OUT', 'Sold out')
  }
  // their next attempts are answered from what this instance then knows (purchase.ts, knownPurchaseRefusal)
  queueFeed().learnPlace(coupon, userId).catch(() => {})
  throw notAdmitted()
}

export const notAdmitted = () => new DomainError('NOT_ADMITTED', 'It is not your turn yet: wait in the waiting room until you are admitted')

/**
 * After a reservation: the admission has found its unit, so it no longer holds one for the room's
 * count of free units. Best effort (if it is lost, the unit is counted twice until the admission
 * ends: the room admits fewer, never more).
 */
export function admissionUsed(coupon: Coupon, userId: number): void {
  if (!coupon.waitingRoom?.enabled) return
  redis().zrem(keys.queueLive(coupon.id), String(userId)).catch(() => {})
  queueFeed().stockMoved(coupon.id)
}
