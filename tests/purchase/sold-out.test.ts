/**
 * The sold-out answers from what an instance knows (server/domain/stock/sold-out.ts): once Redis has
 * called a coupon sold out, an instance answers without Redis and without the call's machinery, with
 * the very body the procedure gives: SOLD_OUT to shoppers who hold none of it, ALREADY_PURCHASED to
 * those who hold a unit; whoever comes to hold one after stock returned is answered by the reserve
 * script (their own order), never SOLD_OUT.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { closeDb, db } from '../../server/db'
import { updateCoupon } from '../../server/domain/coupons/admin'
import { finishInRedis } from '../../server/domain/payments/followup'
import { settleBatch } from '../../server/domain/payments/settle'
import { forgetSoldOut, invalidationMark, knownSoldOutAnswer, learnSoldOut } from '../../server/domain/stock/sold-out'
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
  shoppers = await createShoppers(6)
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

/** Settles a pending order in this process, as a worker would, follow-up included (its Redis message too). */
async function settle(couponId: number, orderId: string, userId: number, expected: 'PAID' | 'INSUFFICIENT_CREDIT' = 'PAID') {
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
  const outcome = expected === 'PAID' ? { status: 'PAID' } : { status: 'FAILED', reason: expected }
  expect(outcomes).toEqual([expect.objectContaining(outcome)])
}
const orderIdOf = (answer: { body: string }) => (JSON.parse(answer.body) as { result: { data: { orderId: string } } }).result.data.orderId
/** One Redis round trip reads the buyers after a SOLD_OUT from the script; the flag then lives 1 s. */
const learnt = () => new Promise((r) => setTimeout(r, 100))

/** Runs `check` while the coupon's marker is gone: the reserve script would answer NOT_LOADED (TRY_AGAIN_LATER). */
async function withoutMarker(couponId: number, check: () => Promise<void>) {
  const marker = await redis().get(keys.loaded(couponId))
  await redis().del(keys.loaded(couponId))
  try {
    await check()
  } finally {
    await redis().set(keys.loaded(couponId), marker!)
  }
}

/** A coupon whose one unit the first shopper bought (settled), and which instance `a` has called sold out. */
async function soldOutOnA() {
  const couponId = await createCouponOnSale({ stock: 1, price: 100 })
  const bought = await buy(a, shoppers[0]!, couponId)
  await settle(couponId, orderIdOf(bought), ids[0]!)
  const first = await buy(a, shoppers[1]!, couponId) // from the reserve script: `a` learns the coupon's buyers
  expect(reasonOf(first)).toBe('SOLD_OUT')
  await learnt()
  return { couponId, first }
}

describe('a sold-out coupon, answered from what the instance knows', () => {
  it('answers without Redis, with the bodies the procedure gives: SOLD_OUT, and ALREADY_PURCHASED to the shopper who holds the unit', async () => {
    const { couponId, first } = await soldOutOnA()
    const owned = await buy(b, shoppers[0]!, couponId) // `b` never learnt it: the reserve script's answer
    expect(reasonOf(owned)).toBe('ALREADY_PURCHASED')
    await withoutMarker(couponId, async () => {
      expect(await buy(a, shoppers[1]!, couponId)).toEqual(first) // same status and the same bytes
      expect(await buy(a, shoppers[0]!, couponId)).toEqual(owned)
      // `b` asks the script, which now answers TRY_AGAIN_LATER: `a`'s answers did not come from it
      expect(reasonOf(await buy(b, shoppers[1]!, couponId))).toBe('TRY_AGAIN_LATER')
      expect(reasonOf(await buy(b, shoppers[0]!, couponId))).toBe('TRY_AGAIN_LATER')
    })
    expect(await buy(a, shoppers[0]!, couponId)).toEqual(owned)
  })

  it('follows the truth when a unit comes back and a failed payment returns it: each holder ALREADY_PURCHASED, everyone else SOLD_OUT', async () => {
    const [owner, poor, latecomer] = [shoppers[0]!, shoppers[4]!, shoppers[5]!]
    const [ownerId, poorId, latecomerId] = [ids[0]!, ids[4]!, ids[5]!]
    // 6,000 of the 10,000 starting credit spent elsewhere: `poor` cannot pay for the coupon below
    const other = await createCouponOnSale({ stock: 1, price: 6_000 })
    await settle(other, orderIdOf(await buy(b, poor, other)), poorId)

    const couponId = await createCouponOnSale({ stock: 1, price: 6_000 })
    await settle(couponId, orderIdOf(await buy(a, owner, couponId)), ownerId)
    expect(reasonOf(await buy(a, poor, couponId))).toBe('SOLD_OUT') // the script: `a` learns the holders
    await learnt()
    await withoutMarker(couponId, async () => {
      expect(reasonOf(await buy(a, poor, couponId))).toBe('SOLD_OUT')
      expect(reasonOf(await buy(a, owner, couponId))).toBe('ALREADY_PURCHASED')
    })

    await updateCoupon({ id: couponId, stockDelta: 1 }) // a unit comes back: cache:invalidate for the coupon
    const pending = await buy(a, poor, couponId)
    expect(reasonOf(pending)).toBe('PENDING')
    expect(reasonOf(await buy(a, latecomer, couponId))).toBe('TRY_AGAIN_LATER') // held by that pending order
    await settle(couponId, orderIdOf(pending), poorId, 'INSUFFICIENT_CREDIT') // the unit comes back again

    await settle(couponId, orderIdOf(await buy(a, latecomer, couponId)), latecomerId)
    expect(reasonOf(await buy(a, poor, couponId))).toBe('SOLD_OUT') // the script, at the coupon's new version
    await learnt()
    await withoutMarker(couponId, async () => {
      expect(reasonOf(await buy(a, poor, couponId))).toBe('SOLD_OUT') // held it for a moment, holds nothing now
      expect(reasonOf(await buy(a, latecomer, couponId))).toBe('ALREADY_PURCHASED')
      expect(reasonOf(await buy(a, owner, couponId))).toBe('ALREADY_PURCHASED')
      expect(reasonOf(await buy(b, latecomer, couponId))).toBe('TRY_AGAIN_LATER') // what the script says now
    })
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
  it('answers as the reserve script does, and not when the coupon was invalidated or changed since the answer', async () => {
    const couponId = await createCouponOnSale({ stock: 1, price: 100 })
    const [holder, other] = await createUsers(2)
    const orderId = (await reserve(couponId, holder!)).orderId
    await settle(couponId, orderId, holder!)
    const version = (await redis().get(keys.version(couponId)))!

    // an invalidation that reached this process after the script was sent: the answer is stale
    let mark = invalidationMark()
    forgetSoldOut(couponId)
    await learnSoldOut(redis(), couponId, mark, version)
    expect(knownSoldOutAnswer(couponId, other!)).toBeUndefined()
    expect(knownSoldOutAnswer(couponId, holder!)).toBeUndefined()

    // the coupon changed after the answer (its version moved): the buyers read are not the answer's
    mark = invalidationMark()
    await learnSoldOut(redis(), couponId, mark, String(Number(version) - 1))
    expect(knownSoldOutAnswer(couponId, other!)).toBeUndefined()

    mark = invalidationMark()
    await learnSoldOut(redis(), couponId, mark, version)
    expect(knownSoldOutAnswer(couponId, other!)).toBe('SOLD_OUT')
    expect(knownSoldOutAnswer(couponId, holder!)).toBe('ALREADY_PURCHASED')
    expect((await reserve(couponId, other!)).status).toBe('SOLD_OUT')
    expect((await reserve(couponId, holder!)).status).toBe('ALREADY_PURCHASED')
    expect(knownSoldOutAnswer(couponId, other!, performance.now() + 1_001)).toBeUndefined() // a flag lives one second
    expect(knownSoldOutAnswer(couponId, holder!)).toBeUndefined()
  })
})
