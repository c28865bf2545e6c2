/**
 * F4 (docs/reliability.md): MariaDB SIGKILLed while workers settle a batch, then started again on its data
 * (InnoDB crash recovery). Reservations need no MySQL; settlement pauses and resumes; a transaction
 * the crash cut is rolled back by recovery and its events are delivered again.
 */
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { redis } from '../../../server/redis/client'
import { createCouponOnSale } from '../../support/data'
import { burst, isAlive, keys, sleep } from '../support'
import { newSale, recoversFully, reporting, saleFixture, stack, until } from './support'

const fixture = saleFixture({ restore: ['mariadb'] })

describe('F4: MariaDB SIGKILLed mid-batch', () => {
  it('recovers from the crash, answers no 500, settles every accepted order and sells exactly the stock', async () => {
    const couponId = await createCouponOnSale({ stock: 80, price: 10 })
    const sale = newSale('F4 MariaDB SIGKILL (crash recovery)', couponId, fixture.shoppers, fixture.procs.urls)
    await reporting(sale, async () => {
      const { pid: pidBefore, log } = stack.processes().mariadb!
      const logBefore = readFileSync(log, 'utf8').length
      const running = burst(fixture.procs.urls, fixture.shoppers, couponId, { spreadMs: 3_000, deadlineMs: 120_000 })
      await until('buyers before the fault', () => redis().scard(keys.buyers(couponId)), 25)
      await stack.killService('mariadb')
      expect(isAlive(pidBefore), 'MariaDB survived its SIGKILL').toBe(false)
      await sleep(2_000)
      await stack.startService('mariadb')
      const recoveredAt = Date.now()
      // the fault happened: InnoDB found it had not been shut down and ran its crash recovery
      const started = readFileSync(log, 'utf8').slice(logBefore)
      expect(started).toMatch(/crash recovery/i)
      sale.row.happened = 'SIGKILL; InnoDB crash recovery on restart'
      const first = await running
      sale.attempts.push(...first.attempts)
      expect(first.outcomes.GAVE_UP ?? 0).toBe(0)
      await recoversFully(sale, recoveredAt)
    })
  }, 300_000)
})
