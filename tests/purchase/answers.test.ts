/**
 * What a shopper who holds the unit is told, through a real Redis stall (SIGSTOP): the attempt caught
 * in the stall is answered OUTCOME_UNKNOWN at the purchase deadline (it was in fact carried out), the
 * retry answers that pending order (not ALREADY_PURCHASED), and once it is paid the retry says
 * ALREADY_PURCHASED — even on an instance whose sold-out flag is up (never SOLD_OUT).
 */
import { readFileSync } from 'node:fs'
import { afterAll, expect, it } from 'vitest'
import { closeDb, db } from '../../server/db'
import { findCoupon } from '../../server/domain/coupons/catalogue'
import { closePaymentPublisher, PURCHASE_DEADLINE_MS, purchaseCoupon } from '../../server/domain/orders/purchase'
import { listMyOrders } from '../../server/domain/orders/service'
import { finishInRedis } from '../../server/domain/payments/followup'
import { settleBatch } from '../../server/domain/payments/settle'
import { closeRedis, redis } from '../../server/redis/client'
import { createCouponOnSale, createUsers, eventually } from '../support/data'
import { testStack } from '../faults/support'
import { paymentEvent } from '../support/reservations'

afterAll(async () => {
  await closePaymentPublisher()
  await closeRedis()
  await closeDb()
})

const answerOf = (attempt: Promise<unknown>) =>
  attempt.then(
    (placed) => placed,
    (error: { reason?: string }) => error.reason ?? String(error),
  )
/** The state letter of a process in /proc (T: stopped). */
const stateOf = (pid: number) => readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[0]

it('tells the shopper who holds the unit about their order through a Redis stall, never SOLD_OUT, TRY_AGAIN_LATER or ALREADY_PURCHASED for a pending one', async () => {
  const couponId = await createCouponOnSale({ stock: 1, price: 100 })
  const [holder, other] = await createUsers(2, 1_000)
  await findCoupon(couponId) // in this instance's cache, as on a busy instance

  // Redis stalls with the holder's attempt in flight
  const redisPid = testStack().processes().redis!.pid
  process.kill(redisPid, 'SIGSTOP')
  let first: unknown
  const started = performance.now()
  try {
    expect(await eventually(async () => stateOf(redisPid) === 'T', 2_000, 10)).toBe(true) // stopped
    const attempt = answerOf(purchaseCoupon(holder!, couponId, 'stalled'))
    first = await Promise.race([attempt, new Promise((r) => setTimeout(() => r('no answer'), PURCHASE_DEADLINE_MS + 1_500))])
  } finally {
    process.kill(redisPid, 'SIGCONT')
  }
  expect(first).toBe('OUTCOME_UNKNOWN')
  expect(performance.now() - started).toBeLessThan(PURCHASE_DEADLINE_MS + 1_000)

  // It was carried out once Redis came back: the holder finds a pending order for the coupon …
  const pending = await eventually(async () => (await listMyOrders(holder!, couponId)).items[0], 10_000, 50)
  expect(pending).toMatchObject({ couponId, status: 'PENDING' })
  // … and a retry answers that very order
  expect(await answerOf(purchaseCoupon(holder!, couponId, 'retry-1'))).toEqual({ orderId: pending!.orderId, status: 'PENDING' })
  expect(await answerOf(purchaseCoupon(other!, couponId, 'other-1'))).toBe('TRY_AGAIN_LATER') // the unit is held, may come back

  // Paid: the other shopper is told SOLD_OUT (this instance raises its sold-out flag) …
  const outcomes = await settleBatch(db(), redis(), [
    paymentEvent({ orderId: pending!.orderId, userId: holder!, couponId, requestId: 'stalled', createdAt: pending!.createdAt }),
  ])
  await finishInRedis(redis(), outcomes)
  expect(outcomes).toEqual([expect.objectContaining({ status: 'PAID' })])
  expect(await answerOf(purchaseCoupon(other!, couponId, 'other-2'))).toBe('SOLD_OUT')
  // … and the holder, asking again while the flag is up, hears that it is theirs
  expect(await answerOf(purchaseCoupon(holder!, couponId, 'retry-2'))).toBe('ALREADY_PURCHASED')
})
