/**
 * S1–S3: Redis, MariaDB and Kafka each SIGSTOPped for 15 s in the middle of a burst — longer than the
 * consumers' 10 s session — then SIGCONTed. A stalled service keeps its connections open and answers
 * nothing, so every caller must give up on its own deadline, and a consumer whose session expired
 * meanwhile must rejoin instead of stopping for good. A shopper reading meanwhile gets data or
 * TRY_AGAIN_LATER within 5 s.
 */
import { describe, expect, it } from 'vitest'
import { sleep } from '../support'
import { pauseService } from './harness'
import { expectTimelyReads, faultMidBurst, heldPaused, networkSale, readsDuring, type Read } from './support'

const fixture = networkSale()
const STALL_MS = 15_000

/** The workers' /readyz answers, polled while `ms` pass. */
async function readinessDuring(ms: number): Promise<number[]> {
  const ports = fixture.procs.workers.map((w) => (w as unknown as { metricsPort: number }).metricsPort)
  const seen: number[] = []
  const end = Date.now() + ms
  while (Date.now() < end) {
    seen.push(...await Promise.all(ports.map((port) => fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(3_000) }).then((r) => r.status, () => 0))))
    await sleep(1_000)
  }
  return seen
}

/** Pauses `service` for STALL_MS while the one shopper who is not in the burst reads (and `also` runs). */
function stallWhileReading(service: 'redis' | 'mariadb' | 'kafka', reads: Read[], also: () => Promise<unknown> = async () => {}) {
  return async (sale: { couponId: number }) => heldPaused(await pauseService(service), STALL_MS, async () => {
    const [seen] = await Promise.all([
      readsDuring(fixture.procs.urls()[0]!, fixture.shoppers.at(-1)!, sale.couponId, STALL_MS - 3_000),
      also(),
    ])
    reads.push(...seen)
  })
}

describe('a dependency paused 15 s mid-burst', () => {
  it('S2: MariaDB — settlement waits and resumes, no consumer is lost, the workers are not ready meanwhile', async () => {
    const reads: Read[] = []
    let readiness: number[] = []
    await faultMidBurst(
      'S2 MariaDB SIGSTOP 15 s',
      fixture,
      stallWhileReading('mariadb', reads, async () => {
        readiness = await readinessDuring(STALL_MS - 3_000)
      }),
    )
    expect(readiness.filter((s) => s === 503).length, `the workers said they were ready while MySQL answered nothing: ${readiness.join(' ')}`).toBeGreaterThan(0)
    const answered = expectTimelyReads(reads)
    expect(answered['user.me'], 'the account lives in MySQL').toContain('TRY_AGAIN_LATER')
  }, 360_000)

  it('S3: Kafka — publishes time out and are undone, both consumers rejoin', async () => {
    const reads: Read[] = []
    await faultMidBurst('S3 Kafka SIGSTOP 15 s', fixture, stallWhileReading('kafka', reads))
    // no read needs Kafka
    expect(expectTimelyReads(reads)).toEqual({
      'user.me': ['OK'],
      'order.mine': ['OK'],
      'coupon.get': ['OK'],
      'coupon.list': ['OK'],
    } satisfies ReturnType<typeof expectTimelyReads>)
  }, 360_000)

  it('S1: Redis — purchases are answered within 5 s, reservations in doubt are settled or undone', async () => {
    const reads: Read[] = []
    await faultMidBurst('S1 Redis SIGSTOP 15 s', fixture, stallWhileReading('redis', reads))
    const answered = expectTimelyReads(reads)
    expect(answered['coupon.get'], 'live stock lives in Redis').toContain('TRY_AGAIN_LATER')
  }, 360_000)
})
