/**
 * S1–S3: Redis, MariaDB and Kafka each SIGSTOPped for 15 s in the middle of a burst — longer than the
 * consumers' 10 s session — then SIGCONTed. A stalled service keeps its connections open and answers
 * nothing, so every caller must give up on its own deadline, and a consumer whose session expired
 * meanwhile must rejoin instead of stopping for good. A shopper reading meanwhile gets data or
 * TRY_AGAIN_LATER within 5 s.
 */
import { describe, expect, it } from 'vitest'
import { saleFixture } from '../hard/support'
import { expectTimelyReads, faultMidBurst, pauseService, readsDuring, type Read } from './support'

const fixture = saleFixture()
const STALL_MS = 15_000

/** The workers' /readyz answers, polled while `ms` pass. */
async function readinessDuring(ms: number): Promise<number[]> {
  const ports = fixture.procs.workers.map((w) => (w as unknown as { metricsPort: number }).metricsPort)
  const seen: number[] = []
  const end = Date.now() + ms
  while (Date.now() < end) {
    seen.push(...await Promise.all(ports.map((port) => fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(3_000) }).then((r) => r.status, () => 0))))
    await new Promise((r) => setTimeout(r, 1_000))
  }
  return seen
}

/** Pauses `service` mid-burst while a shopper who is not in the burst reads. */
function pauseWhileReading(service: 'redis' | 'mariadb' | 'kafka', reads: Read[], during: () => Promise<unknown> = async () => {}) {
  return (sale: { couponId: number }) => pauseService(service, STALL_MS, async () => {
    const reader = fixture.shoppers.at(-1)!
    const [seen] = await Promise.all([readsDuring(fixture.procs.urls()[0]!, reader, sale.couponId, STALL_MS - 3_000), during()])
    reads.push(...seen)
  })
}

describe('a dependency paused 15 s mid-burst', () => {
  it('S2: MariaDB — settlement waits and resumes, no consumer is lost, the workers are not ready meanwhile', async () => {
    const reads: Read[] = []
    let readiness: number[] = []
    await faultMidBurst('S2 MariaDB SIGSTOP 15 s', fixture, pauseWhileReading('mariadb', reads, async () => { readiness = await readinessDuring(STALL_MS - 3_000) }))
    expect(readiness.filter((s) => s === 503).length, `the workers said they were ready while MySQL answered nothing: ${readiness.join(' ')}`).toBeGreaterThan(0)
    const answered = expectTimelyReads(reads)
    expect(answered['user.me'], 'the account lives in MySQL').toContain('TRY_AGAIN_LATER')
  }, 360_000)

  it('S3: Kafka — publishes time out and are undone, both consumers rejoin', async () => {
    const reads: Read[] = []
    await faultMidBurst('S3 Kafka SIGSTOP 15 s', fixture, pauseWhileReading('kafka', reads))
    // no read needs Kafka
    expect(expectTimelyReads(reads)).toEqual({ 'user.me': ['OK'], 'order.mine': ['OK'], 'coupon.get': ['OK'], 'coupon.list': ['OK'] })
  }, 360_000)

  it('S1: Redis — purchases are answered within 5 s, reservations in doubt are settled or undone', async () => {
    const reads: Read[] = []
    await faultMidBurst('S1 Redis SIGSTOP 15 s', fixture, pauseWhileReading('redis', reads))
    const answered = expectTimelyReads(reads)
    expect(answered['coupon.get'], 'live stock lives in Redis').toContain('TRY_AGAIN_LATER')
  }, 360_000)
})
