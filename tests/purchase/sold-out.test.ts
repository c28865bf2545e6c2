/**
 * The sold-out refusal from what an instance knows (server/domain/stock/sold-out.ts): once Redis has
 * called a coupon sold out, an instance refuses shoppers who hold none of it without Redis and without
 * the call's machinery, with the very body the procedure gives; whoever holds a unit — or comes to
 * hold one after stock returned — is answered by the reserve script, never SOLD_OUT.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { closeDb, db } from '../../server/db'
import { updateCoupon } from '../../server/domain/coupons/admin'
import { finishInRedis } from '../../server/domain/payments/followup'
import { settleBatch } from '../../server/domain/payments/settle'
import { forgetSoldOut, invalidationMark, learnSoldOut, refusesAsSoldOut } from '../../server/domain/stock/sold-out'
import { closeRedis, redis } from '../../server/redis/client'
import { keys } from '../../server/redis/keys'
import { createCouponOnSale, createUsers } from '../support/data'
import { startWeb, type Proc } from '../support/processes'
import { reserve } from '../support/reservations'
import { call, procedureUrl } from '../support/api'
import { createShoppers, type Shopper } from '../support/shoppers'

let a: Proc
let b: Proc
let shoppers: Shopper[]
let ids: number[]

beforeAll(async () => {
  ;[a, b] = await Promise.all([startWeb(), startWeb()])
  shoppers = await createShoppers(4)
  ids = await Promise.all(shoppers.map(async (s) => (await call(a.url, 'user.me', { token: s.token })).data!.id))
}, 120_000)

afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()])
  await closeRedis()
  await closeDb()
})

/** A purchase's status and raw body (the bytes are compared). */
const buy = async (web: Proc, shopper: Shopper, couponId: number) => {
  const headers = { 'content-type': 'application/json', 'authorization': `Bearer ${shopper.token}` }
  const res = await fetch(procedureUrl(web.url, 'order.purchase'), { method: 'POST', headers, body: JSON.stringify({ couponId }) })
  return { status: res.status, body: await res.text() }
}
const reasonOf = (answer: { body: string }) =>
  (JSON.parse(answer.body) as { error?: { data: { reason: string } } }).error?.data.reason ?? 'PENDING'

/** Settles a pending order in this process, as a worker would, follow-up included. */
async function settle(couponId: number, orderId: string, userId: number) {
  const entry = JSON.parse((await redis().hget(keys.pending(couponId), orderId))!) as { at: number, price: number }
  const outcomes = await settleBatch(db(), redis(), [
    {
      v: 1,
      orderId,
      userId,
      couponId,
      price: entry.price,
      serverId: 'test',
      requestId: 'test',
      createdAt: new Date(entry.at).toISOString(),
    },
  ])
  await finishInRedis(redis(), outcomes)
  expect(outcomes).toEqual([expect.objectContaining({ status: 'PAID' })])
}

/** A coupon whose one unit the first shopper bought (settled), and which instance `a` has called sold out. */
async function soldOutOnA() {
  const couponId = await createCouponOnSale({ stock: 1, price: 100 })
  const bought = await buy(a, shoppers[0]!, couponId)
  await settle(couponId, (JSON.parse(bought.body) as { result: { data: { orderId: string } } }).result.data.orderId, ids[0]!)
  const first = await buy(a, shoppers[1]!, couponId) // from the reserve script: `a` learns the coupon's buyers
  expect(reasonOf(first)).toBe('SOLD_OUT')
  await new Promise((r) => setTimeout(r, 100)) // one Redis round trip to read the buyers; the flag lives 1 s
  return { couponId, first }
}

describe('a sold-out coupon, refused from what the instance knows', () => {
  it('refuses without Redis, with the body the procedure gives, and never refuses the shopper who holds the unit', async () => {
    const { couponId, first } = await soldOutOnA()
    const marker = await redis().get(keys.loaded(couponId))
    await redis().del(keys.loaded(couponId)) // the reserve script would now answer NOT_LOADED (TRY_AGAIN_LATER)
    try {
      const known = await buy(a, shoppers[1]!, couponId)
      expect(known).toEqual(first) // same status and the same bytes
      expect(reasonOf(await buy(b, shoppers[1]!, couponId))).toBe('TRY_AGAIN_LATER') // `b` never learnt it: the script answered
      expect(reasonOf(await buy(a, shoppers[0]!, couponId))).toBe('TRY_AGAIN_LATER') // the owner goes to the script
    } finally {
      await redis().set(keys.loaded(couponId), marker!)
    }
    expect(reasonOf(await buy(a, shoppers[0]!, couponId))).toBe('ALREADY_PURCHASED')
  })

  it('never tells a shopper who reserved after stock came back that it is sold out', async () => {
    const { couponId } = await soldOutOnA()
    await updateCoupon({ id: couponId, stockDelta: 1 }) // a unit comes back: cache:invalidate for the coupon
    const placed = await buy(b, shoppers[2]!, couponId)
    expect(reasonOf(placed)).toBe('PENDING')
    // asked at once through the instance that had called it sold out: their own order, not SOLD_OUT
    expect(await buy(a, shoppers[2]!, couponId)).toEqual(placed)
    expect(reasonOf(await buy(a, shoppers[3]!, couponId))).toBe('TRY_AGAIN_LATER') // held by that pending order
  })
})

describe('learning that a coupon is sold out', () => {
  it('raises the flag for non-holders only, and not when the coupon was invalidated or changed since the answer', async () => {
    const couponId = await createCouponOnSale({ stock: 1, price: 100 })
    const [holder, other] = await createUsers(2)
    const orderId = (await reserve(couponId, holder!)).orderId
    await settle(couponId, orderId, holder!)
    const version = (await redis().get(keys.version(couponId)))!

    // an invalidation that reached this process after the script was sent: the answer is stale
    let mark = invalidationMark()
    forgetSoldOut(couponId)
    await learnSoldOut(redis(), couponId, mark, version)
    expect(refusesAsSoldOut(couponId, other!)).toBe(false)

    // the coupon changed after the answer (its version moved): the buyers read are not the answer's
    mark = invalidationMark()
    await learnSoldOut(redis(), couponId, mark, String(Number(version) - 1))
    expect(refusesAsSoldOut(couponId, other!)).toBe(false)

    mark = invalidationMark()
    await learnSoldOut(redis(), couponId, mark, version)
    expect(refusesAsSoldOut(couponId, other!)).toBe(true)
    expect(refusesAsSoldOut(couponId, holder!)).toBe(false)
    expect(refusesAsSoldOut(couponId, other!, performance.now() + 1_001)).toBe(false) // a flag lives one second
  })
})
