/**
 * F1 (docs/reliability.md): Redis dies as in a power cut under `appendfsync everysec`, mid-burst. SIGKILL the
 * server, cut half of what the burst appended to its newest AOF file, `redis-check-aof --fix`, start
 * it again: Redis comes back having forgotten its most recent scripts (reservations, claims,
 * follow-ups) that MySQL may already know about. The product must heal that by itself.
 */
import { describe, expect, it } from 'vitest'
import { statSync } from 'node:fs'
import { redis } from '../../../server/redis/client'
import { newestIncrAof } from '../../../scripts/lib/crash.mjs'
import { createCouponOnSale } from '../../support/data'
import { burst, keys } from '../support'
import { crashRedisLosingAofTail, newSale, recoversFully, reporting, saleFixture, stack, until } from './support'

const STOCK = 80
const fixture = saleFixture({ restore: ['redis'] })

describe('F1: Redis SIGKILLed mid-burst, the tail of its AOF lost', () => {
  it('forgets its last writes, answers no 500, and heals: audit passes, the rest of the stock sells exactly', async () => {
    const couponId = await createCouponOnSale({ stock: STOCK, price: 10 })
    const sale = newSale('F1 Redis SIGKILL + AOF tail lost', couponId, fixture.shoppers, fixture.procs.urls)
    await reporting(sale, async () => {
      const aofAtStart = statSync(newestIncrAof(stack.redisDir)).size
      const running = burst(fixture.procs.urls, fixture.shoppers, couponId, { spreadMs: 3_000 })
      await until('buyers before the fault', () => redis().scard(keys.buyers(couponId)), 25)
      const buyersBefore = await redis().smembers(keys.buyers(couponId))
      const { cut, recoveredAt } = await crashRedisLosingAofTail(aofAtStart)
      // the fault happened: a new Redis, and writes it had acknowledged are gone
      const buyersAfter = new Set(await redis().smembers(keys.buyers(couponId)))
      const forgotten = buyersBefore.filter((u) => !buyersAfter.has(u))
      sale.row.happened = `SIGKILL; AOF cut by ${cut.cut} of ${cut.appended} bytes the burst appended; ${forgotten.length} of ${buyersBefore.length} buyers forgotten`
      expect(forgotten.length, 'Redis lost none of the buyers it had before the kill').toBeGreaterThan(0)

      const first = await running
      sale.attempts.push(...first.attempts)
      expect(first.outcomes.GAVE_UP ?? 0).toBe(0)
      await recoversFully(sale, recoveredAt)
    })
  }, 300_000)
})
