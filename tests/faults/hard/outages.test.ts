/**
 * F7 (docs/reliability.md): outages that are not disconnections. Each hits the middle of a burst for 5 s:
 *  - Redis out of memory (`CONFIG SET maxmemory 1` under noeviction: every write answers OOM);
 *  - Redis READONLY (it is made a replica of a master that is not there, as in a failover);
 *  - MySQL read-only (`SET GLOBAL read_only=1`: writes answer error 1290).
 * Orders pause and none fails: every order answered PENDING ends PAID (every shopper has the credit).
 * The app runs as a MySQL user without admin privileges (as in production), since read_only does not
 * stop a user holding READ_ONLY ADMIN.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sql } from 'kysely'
import { createConnection } from 'mysql2/promise'
import { db } from '../../../server/db'
import { redis } from '../../../server/redis/client'
import { createCouponOnSale } from '../../support/data'
import { freePort } from '../../support/processes'
import type { Shopper } from '../../support/shoppers'
import { burst, keys, sleep, statuses } from '../support'
import {
  closeConnections, until, newSale, recoversFully, reporting, sharedShoppers, startSaleProcesses, type SaleProcesses,
} from './support'

let shoppers: Shopper[] = []
let procs: SaleProcesses
const appDbUrl = (() => {
  const url = new URL(process.env.DATABASE_URL!)
  url.username = 'flash_app'
  url.password = 'flash_app'
  return url.toString()
})()

beforeAll(async () => {
  const database = new URL(process.env.DATABASE_URL!).pathname.slice(1)
  for (const host of ['127.0.0.1', 'localhost', '::1']) {
    await sql.raw(`CREATE USER IF NOT EXISTS 'flash_app'@'${host}' IDENTIFIED BY 'flash_app'`).execute(db())
    await sql.raw(`GRANT SELECT, INSERT, UPDATE, DELETE ON \`${database}\`.* TO 'flash_app'@'${host}'`).execute(db())
  }
  ;[shoppers, procs] = await Promise.all([sharedShoppers(120), startSaleProcesses({ env: { DATABASE_URL: appDbUrl } })])
}, 240_000)

afterAll(async () => {
  await sql`SET GLOBAL read_only = 0`.execute(db()).catch(() => {})
  await procs?.stop()
  await closeConnections()
})

/** A burst with `outage` on for 5 s in its middle; `proof` shows the outage is real (and says how). */
async function pausesAndFailsNothing(
  fault: string,
  outage: { start: () => Promise<unknown>, proof: () => Promise<string>, end: () => Promise<unknown> },
) {
  const couponId = await createCouponOnSale({ stock: 80, price: 10 })
  const sale = newSale(fault, couponId, shoppers, procs.urls)
  await reporting(sale, async () => {
    const running = burst(procs.urls, shoppers, couponId, { spreadMs: 3_000, deadlineMs: 120_000 })
    await until('buyers before the outage', () => redis().scard(keys.buyers(couponId)), 20)
    await outage.start()
    try {
      sale.row.happened = await outage.proof()
      await sleep(5_000)
    } finally {
      await outage.end()
    }
    const recoveredAt = Date.now()
    const first = await running
    sale.attempts.push(...first.attempts)
    expect(first.outcomes.GAVE_UP ?? 0).toBe(0)
    await recoversFully(sale, recoveredAt)
    const settled = await statuses(first.accepted)
    expect(
      first.accepted.filter((id) => settled.get(id) !== 'PAID'),
      'orders failed because of the outage',
    ).toEqual([])
  })
}

describe('F7: outages that are not disconnections', () => {
  it('Redis out of memory: orders pause, none fails', async () => {
    expect(await redis().config('GET', 'maxmemory-policy')).toEqual(['maxmemory-policy', 'noeviction'])
    await pausesAndFailsNothing('F7 Redis OOM (maxmemory 1)', {
      start: () => redis().config('SET', 'maxmemory', '1'),
      proof: async () => {
        await expect(redis().set('fault:probe', '1')).rejects.toThrow(/OOM/)
        return 'writes answered OOM'
      },
      end: () => redis().config('SET', 'maxmemory', '0'),
    })
  }, 300_000)

  it('Redis READONLY (a replica now): orders pause, none fails', async () => {
    const nowhere = await freePort()
    await pausesAndFailsNothing('F7 Redis READONLY (REPLICAOF an absent master)', {
      start: () => redis().call('REPLICAOF', '127.0.0.1', String(nowhere)),
      proof: async () => {
        await expect(redis().set('fault:probe', '1')).rejects.toThrow(/READONLY/)
        return 'writes answered READONLY'
      },
      end: () => redis().call('REPLICAOF', 'NO', 'ONE'),
    })
  }, 300_000)

  it('MySQL read_only=1: orders pause, none fails', async () => {
    await pausesAndFailsNothing('F7 MySQL read_only=1', {
      start: () => sql`SET GLOBAL read_only = 1`.execute(db()),
      proof: async () => {
        const app = await createConnection({ uri: appDbUrl })
        try {
          await expect(app.query('UPDATE coupons SET updated_at = updated_at WHERE id = 0')).rejects.toMatchObject({ errno: 1290 })
        } finally {
          await app.end()
        }
        return 'the app user\'s writes answered error 1290'
      },
      end: () => sql`SET GLOBAL read_only = 0`.execute(db()),
    })
  }, 300_000)
})
