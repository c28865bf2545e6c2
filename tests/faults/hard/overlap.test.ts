/**
 * F5b (docs/reliability.md): a worker SIGKILLed with two settlement rounds in flight
 * (server/workers/rounds.ts). The armed worker takes a backlog in chunks of 20 events, so its rounds
 * overlap; the first round to reach its COMMIT holds it back 3 s (`worker.before-commit=pause`), with
 * the coupon's row locked by its stock UPDATE, while the other round's stock UPDATE waits on that
 * lock — the test sees it waiting in MariaDB's process list. Then the first round commits and the
 * worker SIGKILLs itself (`worker.after-commit=kill`), before that round's Redis follow-up and offset
 * commit and before the other round's COMMIT. The replacement gets both rounds' events: the committed
 * ones only need their follow-up, the others are settled — each order exactly once.
 */
import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { db } from '../../../server/db'
import { redis } from '../../../server/redis/client'
import { createCouponOnSale, eventually } from '../../support/data'
import { settleLeftovers } from '../../support/kafka'
import { burst, keys, sleep, type StackProc } from '../support'
import { failpointDir, fired, newSale, recoversFully, reporting, saleFixture, stack, within } from './support'

// a web instance and no worker: the first burst's events wait in Kafka for the armed worker
const fixture = saleFixture({ webs: 1, workers: 0 })
const dir = failpointDir()
const workers: StackProc[] = []

beforeAll(settleLeftovers, 120_000)
afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop(15_000).catch(() => {})))
})

/** Another connection's stock UPDATE waiting in MariaDB (the worker connects as this test does, so it sees its threads). */
async function stockUpdatesWaiting(): Promise<number> {
  const { rows } = await sql<{ n: number }>`SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST
    WHERE ID <> CONNECTION_ID() AND INFO LIKE 'UPDATE coupons SET stock%'`.execute(db())
  return Number(rows[0]!.n)
}

describe('F5b: a worker killed with two settlement rounds in flight', () => {
  it('had a second round waiting on the first one\'s COMMIT, and every order is settled exactly once and the stock sold exactly', async () => {
    const couponId = await createCouponOnSale({ stock: 100, price: 10 })
    const { shoppers, procs } = fixture
    const sale = newSale('F5b: worker SIGKILLed after one COMMIT with a second settlement round in flight', couponId, shoppers, procs.urls)
    await reporting(sale, async () => {
      // the backlog: 90 shoppers answered PENDING while no worker runs; 10 units stay for the follow-up burst
      const first = await burst(procs.urls, shoppers.slice(0, 90), couponId, { spreadMs: 1_000 })
      sale.attempts.push(...first.attempts)
      expect(first.accepted.length).toBe(90)

      const worker = await stack.startWorker({
        env: {
          SETTLE_BATCH_SIZE: '20',
          FLASH_SALE_FAILPOINTS: 'worker.before-commit=pause:3000*1,worker.after-commit=kill*1',
          FLASH_SALE_FAILPOINT_DIR: dir,
        },
      })
      workers.push(worker)
      let overlapped = false
      await within((async () => {
        while (!overlapped && fired(dir, 'worker.after-commit') === 0) {
          overlapped = fired(dir, 'worker.before-commit') === 1 && (await stockUpdatesWaiting()) > 0
          await sleep(50)
        }
      })(), 60_000, 'the armed worker settled nothing')
      expect(overlapped, 'no second round waited on the first one\'s coupon row while it held its COMMIT back').toBe(true)

      const exit = await within(worker.exited, 30_000, 'the worker did not kill itself after its COMMIT')
      const recoveredAt = Date.now()
      expect(exit).toBe('SIGKILL')
      expect({ paused: fired(dir, 'worker.before-commit'), killed: fired(dir, 'worker.after-commit') }).toEqual({ paused: 1, killed: 1 })
      sale.row.happened = 'a second round waited on the first one\'s coupon row while that one held its COMMIT; the worker died by SIGKILL after the COMMIT'

      workers.push(await stack.startWorker({})) // the replacement
      expect(await eventually(async () => (await redis().hlen(keys.pending(couponId))) === 0, 60_000, 500)).toBe(true)
      await recoversFully(sale, recoveredAt)
    })
  }, 300_000)
})
