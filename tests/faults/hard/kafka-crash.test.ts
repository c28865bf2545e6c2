/**
 * F3 (docs/reliability.md), single broker: the Kafka broker SIGKILLed mid-burst and started again on its data.
 * Acknowledged events survive (acks=all, the log is on disk), unacknowledged publishes time out and
 * their reservations are cancelled; the units that come back must be sold again, not stranded.
 * (The 3-broker case, the partition leader SIGKILLed, is tests/ops/kafka-replicated.test.ts.)
 */
import { describe, expect, it } from 'vitest'
import { redis } from '../../../server/redis/client'
import { createCouponOnSale } from '../../support/data'
import { burst, isAlive, keys, sleep } from '../support'
import { newSale, recoversFully, reporting, saleFixture, stack, until } from './support'

const fixture = saleFixture({ restore: ['kafka'] })

describe('F3: the Kafka broker SIGKILLed mid-burst', () => {
  it('answers no 500, loses no accepted order, and sells exactly the stock once the broker is back', async () => {
    const couponId = await createCouponOnSale({ stock: 80, price: 10 })
    const sale = newSale('F3 Kafka broker SIGKILL', couponId, fixture.shoppers, fixture.procs.urls)
    await reporting(sale, async () => {
      const pidBefore = stack.processes().kafka!.pid
      const running = burst(fixture.procs.urls, fixture.shoppers, couponId, { spreadMs: 3_000, deadlineMs: 180_000 })
      await until('buyers before the fault', () => redis().scard(keys.buyers(couponId)), 25)
      await stack.killService('kafka')
      const killedAt = Date.now()
      expect(isAlive(pidBefore), 'the broker survived its SIGKILL').toBe(false)
      await sleep(2_000)
      const { pid } = await stack.startService('kafka')
      const recoveredAt = Date.now()
      sale.row.happened = `SIGKILL; new broker pid ${pid} ready ${((recoveredAt - killedAt) / 1000).toFixed(0)} s later`
      expect(pid).not.toBe(pidBefore)
      const first = await running
      sale.attempts.push(...first.attempts)
      expect(first.outcomes.GAVE_UP ?? 0).toBe(0)
      await recoversFully(sale, recoveredAt)
    })
  }, 420_000)
})
