import { existsSync, mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { closeDb, db } from '../../server/db'
import { closePaymentPublisher, purchaseCoupon } from '../../server/domain/orders/purchase'
import { finishInRedis } from '../../server/domain/payments/followup'
import { settleBatch } from '../../server/domain/payments/settle'
import { closeRedis, redis } from '../../server/redis/client'
import { keys } from '../../server/redis/keys'
import { couponState, createCouponOnSale, createUsers, creditOf, eventually } from '../support/data'
import { paymentEvent } from '../support/reservations'

// This process publishes to a port nobody listens on, and pauses every purchase between its reserve
// script and the publish, so a test can change the world exactly there (set before config() is read).
const failpointDir = mkdtempSync(join(tmpdir(), 'failpoints-'))
process.env.KAFKA_BROKERS = '127.0.0.1:9'
process.env.FLASH_SALE_FAILPOINTS = 'web.after-reserve=pause:1000'
process.env.FLASH_SALE_FAILPOINT_DIR = failpointDir
const hits = () => {
  const file = join(failpointDir, 'web.after-reserve')
  return existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').length : 0
}

afterAll(async () => {
  await closePaymentPublisher()
  await closeRedis()
  await closeDb()
})

/** Starts a purchase and waits until it sits at the failpoint; returns its order id and the answer to come. */
async function pausedPurchase(userId: number, couponId: number) {
  const before = hits()
  const answer = purchaseCoupon(userId, couponId, 'undo-test').then((v) => v, (e: unknown) => e)
  expect(await eventually(async () => hits() > before, 5_000, 10)).toBe(true)
  const [orderId] = await redis().hkeys(keys.pending(couponId))
  return { orderId: orderId!, answer }
}

const orderRow = (orderId: string) => db().selectFrom('orders').select(['status', 'reason']).where('id', '=', orderId).executeTakeFirst()

describe('a purchase whose payment event cannot be published', () => {
  it('cancels a reservation still reserved, answers TRY_AGAIN_LATER, and leaves a tombstone', async () => {
    const couponId = await createCouponOnSale({ stock: 3 })
    const [user] = await createUsers(1)
    const { orderId, answer } = await pausedPurchase(user!, couponId)
    expect(await answer).toMatchObject({ reason: 'TRY_AGAIN_LATER' })
    expect(await couponState(couponId)).toMatchObject({ redisStock: 3, pending: 0, buyers: 0 })
    expect(await orderRow(orderId)).toEqual({ status: 'FAILED', reason: 'CANCELLED' }) // should Redis forget the cancel
  })

  it('writes a tombstone when the entry is gone (lost with Redis data): TRY_AGAIN_LATER, and nothing can charge it later', async () => {
    const couponId = await createCouponOnSale({ stock: 3, price: 100 })
    const [user] = await createUsers(1, 1_000)
    const { orderId, answer } = await pausedPurchase(user!, couponId)
    await redis().hdel(keys.pending(couponId), orderId) // Redis forgot the reservation
    expect(await answer).toMatchObject({ reason: 'TRY_AGAIN_LATER' })
    expect(await orderRow(orderId)).toEqual({ status: 'FAILED', reason: 'CANCELLED' })
    // The event turns up after all (a slow publish): the worker finds the order settled and skips it.
    const event = paymentEvent({ orderId, userId: user!, couponId, requestId: 'late' })
    expect(await settleBatch(db(), redis(), [event])).toEqual([expect.objectContaining({ status: 'FAILED', reason: 'CANCELLED' })])
    expect(await creditOf(user!)).toBe(1_000)
  })

  it('answers PENDING when the order was settled meanwhile (the event did arrive): the tombstone finds its row', async () => {
    const couponId = await createCouponOnSale({ stock: 3, price: 100 })
    const [user] = await createUsers(1, 1_000)
    const { orderId, answer } = await pausedPurchase(user!, couponId)
    const event = paymentEvent({ orderId, userId: user!, couponId, requestId: 'fast' })
    await finishInRedis(redis(), await settleBatch(db(), redis(), [event])) // a worker settled it and followed up
    expect(await answer).toEqual({ orderId, status: 'PENDING' })
    expect(await orderRow(orderId)).toEqual({ status: 'PAID', reason: null })
    expect(await creditOf(user!)).toBe(900)
  })
})
