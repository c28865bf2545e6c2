import { randomFillSync } from 'node:crypto'
import { monotonicFactory } from 'ulid'
import { z } from 'zod'

// ulid's own source of randomness draws one crypto byte per character (16 calls per id): a pool
// filled 4 KB at a time gives the same bytes for a fraction of the calls.
const pool = Buffer.alloc(4096)
let drawn = pool.length
function randomByte(): number {
  if (drawn === pool.length) {
    randomFillSync(pool)
    drawn = 0
  }
  return pool[drawn++]! / 256
}
const nextUlid = monotonicFactory(randomByte)

/** Order ids are `<couponId>-<ULID>`: the coupon names the pending ledger to look in. */
export function newOrderId(couponId: number): string {
  return `${couponId}-${nextUlid()}`
}

export const orderIdSchema = z.string().regex(/^[1-9][0-9]{0,9}-[0-9A-HJKMNP-TV-Z]{26}$/, 'not an order id')

export function couponOfOrder(orderId: string): number {
  return Number(orderId.slice(0, orderId.indexOf('-')))
}
