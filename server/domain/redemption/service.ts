import { db } from '../../db'
import { DomainError } from '../errors'
import { selectByCode, markRedeemed } from './repository'

/** What the admin redemption page shows for a code. */
export interface Redemption {
  code: string
  orderId: string
  couponId: number
  couponName: string
  price: number
  buyerEmail: string
  paidAt: string
  redeemedAt: string | null
  redeemedBy: string | null
}

type Row = NonNullable<Awaited<ReturnType<typeof selectByCode>>>

function toRedemption(row: Row): Redemption {
  return {
    code: row.code!,
    orderId: row.id,
    couponId: Number(row.coupon_id),
    couponName: row.coupon_name ?? `Coupon #${row.coupon_id}`,
    price: Number(row.price),
    buyerEmail: row.buyer_email,
    paidAt: new Date(row.updated_at).toISOString(),
    redeemedAt: row.redeemed_at ? new Date(row.redeemed_at).toISOString() : null,
    redeemedBy: row.redeemer_email ?? null,
  }
}

async function find(code: string): Promise<Redemption> {
  const row = await selectByCode(db(), code)
  if (!row) throw new DomainError('NOT_FOUND', 'No paid order has this code')
  return toRedemption(row)
}

/** Looks a code up without changing it (the shop checks before it hands anything over). */
export async function lookUpCode(code: string): Promise<Redemption> {
  return await find(code)
}

/** Redeems a code once; a second attempt is refused with ALREADY_REDEEMED, naming when and by whom. */
export async function redeemCode(adminUserId: number, code: string): Promise<Redemption> {
  const redeemed = await markRedeemed(db(), code, adminUserId)
  const found = await find(code)
  if (!redeemed) {
    throw new DomainError('ALREADY_REDEEMED', `Already redeemed at ${found.redeemedAt} by ${found.redeemedBy ?? 'an administrator'}`)
  }
  return found
}
