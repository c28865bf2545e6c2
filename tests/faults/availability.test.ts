/**
 * Availability during a purchase burst: clean (SIGTERM) restarts of Redis (AOF on) and of the
 * Kafka broker, and a SIGKILLed web instance. A clean shutdown flushes Redis' AOF and Kafka's log, so the
 * two restarts prove availability, not durability: the hard crashes (SIGKILL, a lost AOF tail, a
 * lagging replica taking over, failpoints, …) are in tests/faults/hard/. Shoppers buy one coupon over
 * HTTP through two web instances with two payment workers
 * settling; the fault hits mid-burst; afterwards the test checks that the fault really happened and that
 * the audit passes: no oversell, no duplicate, credits conserved, nothing stuck pending, no accepted
 * order lost. (A SIGKILLed worker, a web that died before publishing and a failed publish are in
 * tests/purchase/faults.test.ts; `npm run test:faults` runs both files.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { closeDb } from '../../server/db'
import { closePaymentPublisher } from '../../server/domain/orders/purchase'
import { closeRedis, redis } from '../../server/redis/client'
import { createCouponOnSale } from '../support/data'
import { createShoppers, type Shopper } from '../support/shoppers'
import { burst, failedInvariants, isAlive, keys, redisRunId, sleep, statuses, testStack, untilSettled, type StackProc } from './support'

const SHOPPERS = 120
const STOCK = 80
const stack = testStack()
const procs: StackProc[] = []
let webs: (StackProc & { url: string })[] = []
let shoppers: Shopper[] = []
const urls = () => webs.map((w) => w.url)

beforeAll(async () => {
  const [created, a, b] = await Promise.all([
    createShoppers(SHOPPERS, 12),
    stack.startWeb({ env: { PURCHASE_RATE_LIMIT: '100' } }),
    stack.startWeb({ env: { PURCHASE_RATE_LIMIT: '100' } }),
  ])
  shoppers = created
  webs = [a, b]
  procs.push(a, b, await stack.startWorker({}), await stack.startWorker({}))
}, 240_000)

afterAll(async () => {
  await Promise.all(procs.map((p) => p.stop(15_000).catch(() => {})))
  await closePaymentPublisher()
  await closeRedis()
  await closeDb()
})

/**
 * The checks every fault ends with: the coupon settles (nothing stuck pending), every order a
 * shopper was told PENDING ended PAID or FAILED (none lost), the audit passes; then units that came
 * back (reservations cancelled while Kafka was away, after other shoppers were told SOLD_OUT) are
 * really on sale again: a second pass of the same shoppers sells the coupon out exactly.
 */
async function settlesCleanly(couponId: number, accepted: string[]) {
  let state = await untilSettled(couponId)
  expect(state, 'the coupon never settled (something stuck pending)').toBeTruthy()
  expect(state!.paid).toBeLessThanOrEqual(STOCK)
  expect(state!.mysqlStock + state!.paid).toBe(STOCK)
  const settled = await statuses(accepted)
  expect(accepted.filter((id) => !['PAID', 'FAILED'].includes(settled.get(id) ?? ''))).toEqual([])
  expect(await failedInvariants()).toEqual([])
  if (state!.redisStock! > 0) {
    const again = await burst(urls, shoppers, couponId, { spreadMs: 500, deadlineMs: 60_000 })
    state = await untilSettled(couponId)
    expect(state).toBeTruthy()
    const settledAgain = await statuses(again.accepted)
    expect(again.accepted.filter((id) => !['PAID', 'FAILED'].includes(settledAgain.get(id) ?? ''))).toEqual([])
    expect(await failedInvariants()).toEqual([])
  }
  expect(state!.paid).toBe(STOCK) // more shoppers than units, each retried until a final answer: sold out exactly
  expect(state!.redisStock).toBe(0)
  return state!
}

describe('availability across clean restarts during a purchase burst', () => {
  it('stays available across a clean Redis restart (SIGTERM, AOF flushed: availability, not durability)', async () => {
    expect((await redis().config('GET', 'appendonly')) as string[]).toEqual(['appendonly', 'yes'])
    const couponId = await createCouponOnSale({ stock: STOCK, price: 10 })
    const before = await redisRunId()
    const pidBefore = stack.processes().redis!.pid
    const running = burst(urls, shoppers, couponId)
    await sleep(1_000)
    await stack.restartRedis()
    const result = await running
    // the fault happened: a new Redis process (new run_id), and the data came back from the AOF
    expect(isAlive(pidBefore)).toBe(false)
    expect(await redisRunId()).not.toBe(before)
    expect(await redis().exists(keys.loaded(couponId))).toBe(1)
    expect(result.outcomes.GAVE_UP ?? 0).toBe(0)
    await settlesCleanly(couponId, result.accepted)
  }, 240_000)

  it('stays available across a clean Kafka broker restart (SIGTERM: availability, not durability)', async () => {
    const couponId = await createCouponOnSale({ stock: STOCK, price: 10 })
    const pidBefore = stack.processes().kafka!.pid
    const running = burst(urls, shoppers, couponId, { deadlineMs: 150_000 })
    await sleep(1_000)
    await stack.restartKafka()
    const result = await running
    const pidAfter = stack.processes().kafka?.pid
    expect(isAlive(pidBefore)).toBe(false)
    expect(pidAfter).toBeDefined()
    expect(pidAfter).not.toBe(pidBefore)
    expect(result.outcomes.GAVE_UP ?? 0).toBe(0)
    await settlesCleanly(couponId, result.accepted)
  }, 300_000)

  it('SIGKILLing a web instance mid-burst loses no reservation', async () => {
    const couponId = await createCouponOnSale({ stock: STOCK, price: 10 })
    const victim = webs[0]!
    const running = burst(urls, shoppers, couponId)
    await sleep(700)
    await victim.kill()
    webs = webs.filter((w) => w !== victim) // what NGINX does: route around the dead instance
    const result = await running
    expect(isAlive(victim.pid)).toBe(false)
    expect(result.outcomes.GAVE_UP ?? 0).toBe(0)
    // reservations the dead instance made without answering are re-published by the reconciler
    await settlesCleanly(couponId, result.accepted)
  }, 240_000)
})
