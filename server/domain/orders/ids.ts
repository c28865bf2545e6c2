import { monotonicFactory } from 'ulid'
import { z } from 'zod'
import { randomByte } from '../random'

// ulid's own source of randomness draws one crypto byte per character (16 calls per id): the pool's
// bytes are the same randomness for a fraction of the calls.
const nextUlid = monotonicFactory(() => randomByte() / 256)

/** Order ids are `<couponId>-<ULID>`: the coupon names the pending ledger to look in. */
export function newOrderId(couponId: number): string {
  return `${couponId}-${nextUlid()}`
}

export const orderIdSchema = z.string().regex(/^[1-9][0-9]{0,9}-[0-9A-HJKMNP-TV-Z]{26}$/, 'not an order id')

export function couponOfOrder(orderId: string): number {
  return Number(orderId.slice(0, orderId.indexOf('-')))
}
