/**
 * F6 (docs/reliability.md): clock skew between processes. A web instance runs under Debian's `faketime` 30 s
 * ahead of the worker (libfaketime, LD_PRELOAD: the process's whole clock moves, not a test hook in
 * the app). Ages that two processes compare must be measured on Redis' clock:
 *  - the fast web cannot open a sale early (the window is checked against Redis' time);
 *  - its reservation, stranded when it dies between reserve and publish, is re-published within the
 *    reconciler's 10 s window plus a pass or two — not 30 s later, as the web's timestamps would say.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { db } from '../../../server/db'
import { redis } from '../../../server/redis/client'
import { createCouponOnSale, eventually } from '../../support/data'
import type { Shopper } from '../../support/shoppers'
import { burst, keys, type StackProc } from '../support'
import {
  closeConnections, failpointDir, fired, newSale, recoversFully, reporting, sharedShoppers, stack, startSaleProcesses, within,
  type SaleProcesses,
} from './support'
import { call } from '../../support/api'

const SKEW_S = 30
const FAST_WEB = `fast-web-${process.pid}`
let shoppers: Shopper[] = []
let procs: SaleProcesses
const dir = failpointDir()
let fastWeb: StackProc & { url: string }

beforeAll(async () => {
  ;[shoppers, procs, fastWeb] = await Promise.all([
    sharedShoppers(120),
    startSaleProcesses({ webs: 1, workers: 1 }),
    stack.startWeb({
      wrap: ['faketime', '-f', `+${SKEW_S}`],
      env: {
        SERVER_ID: FAST_WEB,
        FLASH_SALE_FAILPOINTS: 'web.after-reserve=kill',
        FLASH_SALE_FAILPOINT_DIR: dir,
        PURCHASE_RATE_LIMIT: '100',
      },
    }),
  ])
}, 240_000)

afterAll(async () => {
  await Promise.all([procs?.stop(), fastWeb?.stop().catch(() => {})])
  await closeConnections()
})

/** How far ahead of ours a web instance's clock is (seconds), from the Date header it answers with. */
async function clockAheadSeconds(url: string): Promise<number> {
  const res = await fetch(`${url}/healthz`)
  return (Date.parse(res.headers.get('date')!) - Date.now()) / 1000
}

describe('F6: a web 30 s ahead of the worker (faketime)', () => {
  it('opens no sale early, and its stranded reservation is settled on Redis\' clock', async () => {
    // the skew is real: the fast web's own clock (its Date header, second resolution) is 30 s ahead
    const skew = await clockAheadSeconds(fastWeb.url)
    expect(skew).toBeGreaterThan(SKEW_S - 5)
    expect(skew).toBeLessThan(SKEW_S + 5)

    const soon = await createCouponOnSale({ stock: 5, price: 10 })
    await db().updateTable('coupons').set({ sale_starts_at: new Date(Date.now() + 15_000) }).where('id', '=', soon).execute()
    // (had it reserved, its failpoint would have killed it before it answered)
    const early = await call(fastWeb.url, 'order.purchase', { input: { couponId: soon }, token: shoppers[0]!.token, mutation: true })
      .catch((error: Error) => ({ error: { data: { reason: `no answer: ${error.message}` } } }))
    expect(early.error?.data.reason, 'a web whose clock is ahead opened the sale early').toBe('SALE_NOT_STARTED')

    const couponId = await createCouponOnSale({ stock: 80, price: 10 })
    let fastDead = false
    void fastWeb.exited.then(() => { fastDead = true })
    const urls = () => [...procs.urls(), ...(fastDead ? [] : [fastWeb.url])]
    const sale = newSale(`F6 clock skew: web ${SKEW_S} s ahead (faketime), killed after reserve`, couponId, shoppers, urls)
    await reporting(sale, async () => {
      const running = burst(urls, shoppers, couponId, { spreadMs: 3_000 })
      await within(fastWeb.exited, 60_000, 'the fast web never reserved')
      const diedAt = Date.now()
      expect(fired(dir, 'web.after-reserve')).toBe(1)
      const stranded = Object.entries(await redis().hgetall(keys.pending(couponId)))
        .filter(([, v]) => v.includes(`"serverId":"${FAST_WEB}"`))
        .map(([k]) => k)
      // (requests in flight reach the reserve script side by side: the kill may strand more than one)
      expect(stranded.length, 'the fast web died without leaving its reservation').toBeGreaterThan(0)
      // its reservation is settled within the reconciler's window plus two passes of slack
      const settled = await eventually(async () => {
        const left = await redis().hmget(keys.pending(couponId), ...stranded)
        return left.every((v) => v === null || !v.includes('"state":"reserved"')) ? true : null
      }, 40_000, 250)
      const waited = (Date.now() - diedAt) / 1000
      sale.row.happened = `web clock ${skew.toFixed(0)} s ahead; it died after reserving; its ${stranded.length} reservations left after ${waited.toFixed(1)} s`
      expect(settled).toBe(true)
      expect(waited, 'the dead fast web\'s reservation was held as if its clock were right').toBeLessThan(25)
      const first = await running
      sale.attempts.push(...first.attempts)
      expect(first.outcomes.GAVE_UP ?? 0).toBe(0)
      await recoversFully(sale, diedAt)
    })
  }, 300_000)
})
