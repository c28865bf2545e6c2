/**
 * F8 (docs/reliability.md): poison inside the failure path must not wedge anything.
 *  - A corrupt pending entry (garbage HSET into a coupon's pending hash): the reconciler skips and
 *    reports it instead of failing its whole pass, so a dead web's reservation on another coupon is
 *    still re-published and settled, and the audit does not choke on it.
 *  - A dead-letter send that throws once (failpoint `worker.dead-letter=throw*1`) while a malformed
 *    event is being parked: the event still reaches the dead-letter topic and the partition moves on.
 */
import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { kafka, topics } from '../../../server/kafka/client'
import { redis } from '../../../server/redis/client'
import { createCouponOnSale, eventually } from '../../support/data'
import { onDeadLetters } from '../../support/dead-letters'
import type { Shopper } from '../../support/shoppers'
import { burst, keys, sleep, type StackProc } from '../support'
import {
  closeConnections, failpointDir, fired, newSale, recoversFully, reporting, sharedShoppers, stack, startSaleProcesses, within,
  type SaleProcesses,
} from './support'

let shoppers: Shopper[] = []
let procs: SaleProcesses
const dir = failpointDir()
let doomedWeb: StackProc & { url: string }
let victim: number | undefined
const garbageId = (couponId: number) => `${couponId}-01J0000000000000000000GARB`

beforeAll(async () => {
  ;[shoppers, procs, doomedWeb] = await Promise.all([
    sharedShoppers(120),
    startSaleProcesses({ webs: 1, env: { FLASH_SALE_FAILPOINTS: 'worker.dead-letter=throw*1', FLASH_SALE_FAILPOINT_DIR: dir } }),
    stack.startWeb({ env: { FLASH_SALE_FAILPOINTS: 'web.after-reserve=kill', FLASH_SALE_FAILPOINT_DIR: dir, PURCHASE_RATE_LIMIT: '100' } }),
  ])
}, 240_000)

afterAll(async () => {
  // the garbage this file injected goes, after its checks, so that the next files judge their own faults
  if (victim) await redis().hdel(keys.pending(victim), garbageId(victim))
  await Promise.all([procs?.stop(), doomedWeb?.stop().catch(() => {})])
  await closeConnections()
})

describe('F8: poison in the failure path', () => {
  it('a corrupt pending entry and a dead-letter send that throws once wedge nothing', async () => {
    victim = await createCouponOnSale({ stock: 5, price: 10 })
    const couponId = await createCouponOnSale({ stock: 80, price: 10 })
    let webDead = false
    void doomedWeb.exited.then(() => { webDead = true })
    const urls = () => [...procs.urls(), ...(webDead ? [] : [doomedWeb.url])]
    const sale = newSale('F8 corrupt pending entry + dead-letter send throws once', couponId, shoppers, urls)
    await reporting(sale, async () => {
      await redis().hset(keys.pending(victim!), garbageId(victim!), '{"state":"reserved","userId":')
      const poisonKey = `poison-${randomUUID()}`
      const producer = kafka().producer()
      await producer.connect()
      await producer.send({ topic: topics.paymentRequests, messages: [{ key: poisonKey, value: 'not a payment request' }] })
      await producer.disconnect()

      const running = burst(urls, shoppers, couponId, { spreadMs: 3_000 })
      expect(await within(doomedWeb.exited, 60_000, 'web.after-reserve did not fire')).toBe('SIGKILL')
      expect(
        await eventually(async () => fired(dir, 'worker.dead-letter') >= 1, 30_000, 500),
        'the dead-letter failpoint never fired',
      ).toBe(true)
      const recoveredAt = Date.now()
      sale.row.happened = 'garbage entry written; dead-letter send threw once (failpoint fired); a web died with a reservation in hand'
      expect(await onDeadLetters(poisonKey, 30_000), 'the malformed event never reached the dead-letter topic').toBe(true)

      const first = await running
      sale.attempts.push(...first.attempts)
      expect(first.outcomes.GAVE_UP ?? 0).toBe(0)
      // the dead web's reservation was re-published although the reconciler met the garbage first
      expect(await eventually(async () => (await redis().hlen(keys.pending(couponId))) === 0, 45_000, 500)).toBe(true)
      await sleep(1_000)
      await recoversFully(sale, recoveredAt)
    })
  }, 300_000)
})
