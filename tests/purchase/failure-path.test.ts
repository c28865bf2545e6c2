import { existsSync, mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { closeDb, db } from '../../server/db'
import { closePaymentPublisher, purchaseCoupon } from '../../server/domain/orders/purchase'
import { closeRedis } from '../../server/redis/client'
import { couponState, createCouponOnSale, createUsers, creditOf, eventually } from '../support/data'
import { startWorker, type Proc } from '../support/processes'
import { onDeadLetters } from '../support/dead-letters'
import { settleLeftovers } from '../support/kafka'

const failpointDir = mkdtempSync(join(tmpdir(), 'failpoints-'))
const hits = (name: string) =>
  existsSync(join(failpointDir, name)) ? readFileSync(join(failpointDir, name), 'utf8').trim().split('\n').length : 0
let worker: Proc

beforeAll(async () => {
  await settleLeftovers()
  // Settlement fails three times for a reason that is not an outage (the event is parked), and the
  // dead-letter send then throws once (the failure path must retry it, not escape).
  worker = await startWorker({ FLASH_SALE_FAILPOINTS: 'worker.before-settle=throw*3,worker.dead-letter=throw*1', FLASH_SALE_FAILPOINT_DIR: failpointDir })
})
afterAll(async () => {
  await worker?.stop()
  await closePaymentPublisher()
  await closeRedis()
  await closeDb()
})

describe('the failure path of the worker', () => {
  it('parks an event that keeps failing: dead-lettered despite a send that throws, its order FAILED/PAYMENT_ERROR and released, and the partition moves on', async () => {
    const couponId = await createCouponOnSale({ stock: 2, price: 100 })
    const [first, second] = await createUsers(2, 1_000)
    const { orderId } = await purchaseCoupon(first!, couponId, 'parked')
    const parked = await eventually(
      async () => (await db().selectFrom('orders').select(['status', 'reason']).where('id', '=', orderId).executeTakeFirst()) ?? null,
      30_000,
    )
    expect(parked).toEqual({ status: 'FAILED', reason: 'PAYMENT_ERROR' })
    expect(hits('worker.before-settle')).toBe(3)
    expect(hits('worker.dead-letter')).toBe(1)
    expect(
      worker
        .output()
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { msg?: string, step?: string })
        .some((l) => l.msg === 'failure path step failed' && l.step === 'dead-letter send'),
    ).toBe(true)
    expect(await creditOf(first!)).toBe(1_000)
    expect(await eventually(async () => (await couponState(couponId)).pending === 0)).toBe(true)
    expect(await couponState(couponId)).toMatchObject({ redisStock: 2, buyers: 0, paid: 0 })

    // Not wedged: the next order on the same coupon settles.
    const next = await purchaseCoupon(second!, couponId, 'after')
    const paid = await eventually(
      async () => (await db().selectFrom('orders').select('status').where('id', '=', next.orderId).executeTakeFirst())?.status === 'PAID',
      30_000,
    )
    expect(paid).toBe(true)

    expect(await onDeadLetters(orderId)).toBe(true)
  }, 90_000)
})
