/**
 * F5 (docs/reliability.md): processes killed at the worst moment, by failpoints (server/domain/failpoints.ts,
 * armed only through FLASH_SALE_FAILPOINTS):
 *  - `worker.after-commit=kill`: a worker SIGKILLs itself right after its MySQL transaction committed,
 *    before the Redis follow-up and the offset commit — the batch is delivered again to another worker,
 *    which must only finish it (no second charge, no lost follow-up);
 *  - `web.after-reserve=kill`: a web instance SIGKILLs itself between the reserve script and the
 *    publish — a reservation with no event and a shopper with no answer; the reconciler re-publishes it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PAYMENT_GROUP } from '../../../server/kafka/client'
import { redis } from '../../../server/redis/client'
import { createCouponOnSale, eventually } from '../../support/data'
import type { Shopper } from '../../support/shoppers'
import { burst, kafkaDrained, keys, type StackProc } from '../support'
import {
  closeConnections, failpointDir, fired, newSale, within, recoversFully, reporting, sharedShoppers, stack, startSaleProcesses,
  type SaleProcesses,
} from './support'

let shoppers: Shopper[] = []
let procs: SaleProcesses
const dir = failpointDir()
let doomedWorker: StackProc
let doomedWeb: StackProc & { url: string }

beforeAll(async () => {
  const armed = (name: string) => ({ FLASH_SALE_FAILPOINTS: `${name}=kill`, FLASH_SALE_FAILPOINT_DIR: dir, PURCHASE_RATE_LIMIT: '100' })
  ;[shoppers, procs] = await Promise.all([sharedShoppers(120), startSaleProcesses({ webs: 1, workers: 1 })])
  // the armed worker's first settlement must be this file's: events earlier files left are settled first
  await kafkaDrained()
  ;[doomedWorker, doomedWeb] = await Promise.all([
    stack.startWorker({ env: armed('worker.after-commit') }),
    stack.startWeb({ env: armed('web.after-reserve') }),
  ])
  // the armed worker holds partitions before the burst: joining takes a rebalance (seconds), during
  // which the other worker would settle every event and the failpoint would have nothing to fire on
  const consuming = async () => (await stack.groupMembers(PAYMENT_GROUP)).filter((m) => m.partitions > 0).length
  expect(await eventually(async () => (await consuming()) === 2, 60_000, 500)).toBe(true)
}, 240_000)

afterAll(async () => {
  await Promise.all([procs?.stop(), doomedWorker?.stop().catch(() => {}), doomedWeb?.stop().catch(() => {})])
  await closeConnections()
})

describe('F5: a worker killed between MySQL commit and offset commit, a web killed between reserve and publish', () => {
  it('fires both failpoints, and every order is settled exactly once and the stock sold exactly', async () => {
    const couponId = await createCouponOnSale({ stock: 80, price: 10 })
    let webDead = false
    void doomedWeb.exited.then(() => { webDead = true })
    const urls = () => [...procs.urls(), ...(webDead ? [] : [doomedWeb.url])]
    const sale = newSale('F5 failpoints: worker after MySQL commit, web after reserve', couponId, shoppers, urls)
    await reporting(sale, async () => {
      const running = burst(urls, shoppers, couponId, { spreadMs: 3_000 })
      // both died by their own SIGKILL, at the failpoint (the line is written just before the kill)
      const [workerExit, webExit] = await within(
        Promise.all([doomedWorker.exited, doomedWeb.exited]),
        60_000,
        'both failpoints did not fire',
      )
      const recoveredAt = Date.now()
      expect({ workerExit, webExit }).toEqual({ workerExit: 'SIGKILL', webExit: 'SIGKILL' })
      expect({ worker: fired(dir, 'worker.after-commit'), web: fired(dir, 'web.after-reserve') }).toEqual({ worker: 1, web: 1 })
      sale.row.happened = 'both failpoints fired once; both processes died by SIGKILL'
      const first = await running
      sale.attempts.push(...first.attempts)
      expect(first.outcomes.GAVE_UP ?? 0).toBe(0)
      // the shopper whose web died got no answer: indeterminate, and their reservation is settled anyway
      expect(first.attempts.filter((a) => a.answer === 'NO_ANSWER').length).toBeGreaterThan(0)
      expect(await eventually(async () => (await redis().hlen(keys.pending(couponId))) === 0, 60_000, 500)).toBe(true)
      await recoversFully(sale, recoveredAt)
    })
  }, 300_000)
})
