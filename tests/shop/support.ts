import { expect } from 'vitest'
import { db } from '../../server/db'
import { redis } from '../../server/redis/client'
import { reserve, paymentEvent } from '../support/reservations'
import { settleBatch } from '../../server/domain/payments/settle'
import { finishInRedis } from '../../server/domain/payments/followup'

/** Reserves a unit for the user and settles it the way the worker does (claim, one transaction, follow-up). */
export async function buyAndSettle(couponId: number, userId: number, price: number) {
  const at = Date.now()
  const { orderId, status } = await reserve(couponId, userId, undefined, price)
  expect(status).toBe('OK')
  const event = paymentEvent({ orderId, userId, couponId, price, createdAt: new Date(at).toISOString() })
  const [outcome] = await settleBatch(db(), redis(), [event])
  await finishInRedis(redis(), [outcome!])
  return { orderId, outcome: outcome! }
}

export async function codeOf(orderId: string): Promise<string | null> {
  const row = await db().selectFrom('orders').select('code').where('id', '=', orderId).executeTakeFirstOrThrow()
  return row.code
}
