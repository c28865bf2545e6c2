import { afterAll, describe, expect, it } from 'vitest'
import { closeDb, db } from '../../server/db'
import { describeDrift, findDrift } from '../../server/domain/audit/service'
import { finishInRedis } from '../../server/domain/payments/followup'
import { Reconciler } from '../../server/domain/payments/reconciler'
import { settleBatch } from '../../server/domain/payments/settle'
import { LoadBarrier } from '../../server/domain/stock/barrier'
import { RepublishGate } from '../../server/domain/payments/republish-gate'
import { checkCoupon, inBalance, repairCoupon } from '../../server/domain/stock/repair'
import { closeRedis, redis } from '../../server/redis/client'
import { keys } from '../../server/redis/keys'
import { couponState, createCouponOnSale, createUsers } from '../support/data'
import { reserve, paymentEvent } from '../support/reservations'

afterAll(async () => {
  await closeRedis()
  await closeDb()
})

// Kafka plays no part here (no events in flight): a barrier over no partitions.
const reconciler = (setCheckEvery?: number) => new Reconciler({
  db: db(), redis: redis(), consuming: () => true, republish: async () => {}, setCheckEvery,
  barrier: new LoadBarrier(async () => []),
  gate: new RepublishGate(async () => []),
})

describe('the anti-entropy check and repair', () => {
  it('measures how far a coupon drifted, and the repair brings it back: stock = M + |E ∩ PAID| − |E|, buyers = owners ∪ users(E)', async () => {
    const couponId = await createCouponOnSale({ stock: 5 })
    const [owner, user] = await createUsers(2)
    const bought = await reserve(couponId, owner!)
    const event = paymentEvent({ orderId: bought.orderId, userId: owner!, couponId, requestId: 'owner' })
    await finishInRedis(redis(), await settleBatch(db(), redis(), [event]))
    await reserve(couponId, user!)
    expect(inBalance((await checkCoupon(db(), redis(), couponId))!)).toBe(true)

    await redis().set(keys.stock(couponId), 9) // Redis kept a unit count it should have lost
    await redis().sadd(keys.buyers(couponId), '999999') // and a buyer who owns nothing
    const check = (await checkCoupon(db(), redis(), couponId))!
    expect(check).toMatchObject({ loaded: true, redisStock: 9, entries: 1, mysqlStock: 4, owners: 1, stockDrift: 6, buyersDrift: 1 })
    expect((await findDrift(db(), redis())).map(describeDrift)).toContain(
      `#${couponId}: stock +6 (Redis 9 + 1 pending vs MySQL 4 + 0 paid pending), buyers +1 (3 in Redis vs 1 owners + 1 unpaid pending)`)

    expect(await repairCoupon(db(), redis(), couponId)).toEqual({ status: 'repaired', attempts: 1, stock: 3, buyers: 2, quarantined: 0 })
    expect((await redis().smembers(keys.buyers(couponId))).sort()).toEqual([String(owner), String(user)].sort())
    expect(await redis().pttl(keys.buyers(couponId))).toBe(-1) // for good, not for the staging set's minute
    expect(inBalance((await checkCoupon(db(), redis(), couponId))!)).toBe(true)
  })

  it('does not repair while another repairer holds the lease', async () => {
    const couponId = await createCouponOnSale({ stock: 2 })
    await redis().set(keys.repair(couponId), 'another', 'PX', 5_000)
    expect(await repairCoupon(db(), redis(), couponId)).toMatchObject({ status: 'busy' })
    await redis().del(keys.repair(couponId))
  })

  it('lets the reconciler repair a discrepancy it sees twice in a row, not one it sees once', async () => {
    const couponId = await createCouponOnSale({ stock: 3 })
    const pass = reconciler()
    await redis().decrby(keys.stock(couponId), 2) // two units stranded: Redis forgot two releases
    await pass.pass()
    expect((await couponState(couponId)).redisStock).toBe(1)
    await pass.pass()
    expect(await couponState(couponId)).toMatchObject({ redisStock: 3, mysqlStock: 3 })
  })

  it('repairs a buyer set whose members differ from the owners although the counts agree (the slower set check)', async () => {
    const couponId = await createCouponOnSale({ stock: 3 })
    const [user] = await createUsers(1)
    await reserve(couponId, user!)
    await redis().multi().srem(keys.buyers(couponId), String(user)).sadd(keys.buyers(couponId), '888888').exec() // swapped
    expect(inBalance((await checkCoupon(db(), redis(), couponId))!)).toBe(true) // the counts cannot see it
    const pass = reconciler(1)
    await pass.pass()
    expect(await redis().smembers(keys.buyers(couponId))).toEqual(['888888'])
    await pass.pass()
    expect(await redis().smembers(keys.buyers(couponId))).toEqual([String(user)])
  })

  it('skips and reports an entry it cannot parse instead of failing the pass', async () => {
    const couponId = await createCouponOnSale({ stock: 3 })
    await redis().hset(keys.pending(couponId), `${couponId}-CORRUPT`, 'not json at all')
    const done = await reconciler().pass()
    expect(done.skipped).toBeGreaterThanOrEqual(1)
    await redis().hdel(keys.pending(couponId), `${couponId}-CORRUPT`)
  })

  it('moves an unparsable entry out of the ledger into the quarantine when it repairs, and the coupon balances again', async () => {
    const couponId = await createCouponOnSale({ stock: 3 })
    const garbage = `${couponId}-01J0000000000000000000GARB`
    await redis().hset(keys.pending(couponId), garbage, '{"state":"reserved","userId":')
    expect(inBalance((await checkCoupon(db(), redis(), couponId))!)).toBe(false)
    const pass = reconciler()
    await pass.pass() // seen once
    await pass.pass() // seen twice: repaired
    expect(await redis().hexists(keys.pending(couponId), garbage)).toBe(0)
    expect(await redis().hget(keys.quarantine(couponId), garbage)).toBe('{"state":"reserved","userId":')
    const after = (await checkCoupon(db(), redis(), couponId))!
    expect(inBalance(after)).toBe(true)
    expect(after.redisStock).toBe(3) // the garbage held no unit
  })
})
