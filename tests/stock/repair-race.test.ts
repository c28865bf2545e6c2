import { mkdtempSync, readFileSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { closeDb, db } from '../../server/db'
import { finishInRedis } from '../../server/domain/payments/followup'
import { settleBatch } from '../../server/domain/payments/settle'
import { checkCoupon, inBalance, repairCoupon } from '../../server/domain/stock/repair'
import { closeRedis, redis } from '../../server/redis/client'
import { keys } from '../../server/redis/keys'
import { couponState, createCouponOnSale, createUsers, eventually } from '../support/data'
import { reserve, paymentEvent } from '../support/reservations'

// Armed before the first config() call of this file's process: every repair pauses between its reads
// and its script, and leaves a line in the failpoint file each time it gets there.
const failpointDir = mkdtempSync(join(tmpdir(), 'failpoints-'))
process.env.FLASH_SALE_FAILPOINTS = 'repair.before-apply=pause:1500'
process.env.FLASH_SALE_FAILPOINT_DIR = failpointDir
const hits = () =>
  existsSync(join(failpointDir, 'repair.before-apply'))
    ? readFileSync(join(failpointDir, 'repair.before-apply'), 'utf8').trim().split('\n').length
    : 0

afterAll(async () => {
  await closeRedis()
  await closeDb()
})

describe('a repair racing live settlement', () => {
  it('neither creates nor destroys a unit when a follow-up lands between its reads and its script', async () => {
    const couponId = await createCouponOnSale({ stock: 5, price: 100 })
    const [rich] = await createUsers(1, 1_000)
    const [poor] = await createUsers(1, 10)
    const a = await reserve(couponId, rich!)
    const b = await reserve(couponId, poor!)
    await redis().set(keys.stock(couponId), 9) // drift: Redis believes in units MySQL never had
    const before = hits()

    const repairing = repairCoupon(db(), redis(), couponId)
    expect(await eventually(async () => hits() > before, 5_000, 20)).toBe(true) // paused at the failpoint
    // Meanwhile the poor buyer's order settles: INSUFFICIENT_CREDIT, released (unit back, version bumped).
    const outcomes = await settleBatch(db(), redis(), [paymentEvent({ orderId: b.orderId, userId: poor!, couponId, requestId: 'race' })])
    expect(outcomes).toEqual([expect.objectContaining({ status: 'FAILED', reason: 'INSUFFICIENT_CREDIT' })])
    expect(await finishInRedis(redis(), outcomes)).toBe(1)

    const result = await repairing
    // The first script saw the version move and aborted; the second read again.
    expect(result).toEqual({ status: 'repaired', attempts: 2, stock: 4, buyers: 1, quarantined: 0 })
    expect(hits()).toBe(before + 2)
    // MySQL 5, one reservation (rich) pending: 4 left. The stale snapshot (two pending) would have said 3.
    expect(await couponState(couponId)).toMatchObject({ mysqlStock: 5, redisStock: 4, pending: 1, buyers: 1 })
    expect(await redis().smembers(keys.buyers(couponId))).toEqual([String(rich)])
    expect(await redis().hexists(keys.pending(couponId), a.orderId)).toBe(1)
    expect(inBalance((await checkCoupon(db(), redis(), couponId))!)).toBe(true)
    expect(await redis().exists(keys.repair(couponId))).toBe(0) // the lease was dropped
  }, 30_000)
})
