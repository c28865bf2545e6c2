import { monotonicFactory } from 'ulid'
import { z } from 'zod'

const nextUlid = monotonicFactory()

/** Order ids are `<couponId>-<ULID>`: the coupon names the pending ledger to look in. */
export function newOrderId(couponId: number): string {
  return `${couponId}-${nextUlid()}`
}

export const orderIdSchema = z.string().regex(/^[1-9][0-9]{0,9}-[0-9A-HJKMNP-TV-Z]{26}$/, 'not an order id')

export function couponOfOrder(orderId: string): number {
  return Number(orderId.slice(0, orderId.indexOf('-')))
}
