/**
 * S1–S3: Redis, MariaDB and Kafka each SIGSTOPped for 15 s in the middle of a burst — longer than the
 * consumers' 10 s session — then SIGCONTed. A stalled service keeps its connections open and answers
 * nothing, so every caller must give up on its own deadline, and a consumer whose session expired
 * meanwhile must rejoin instead of stopping for good.
 */
import { describe, expect, it } from 'vitest'
import { saleFixture } from '../hard/support'
import { faultMidBurst, pauseService } from './support'

const fixture = saleFixture()
const STALL_MS = 15_000

/** The workers' /readyz answers, polled while `ms` pass. */
async function readinessDuring(ms: number): Promise<number[]> {
  const ports = fixture.procs.workers.map((w) => (w as unknown as { metricsPort: number }).metricsPort)
  const seen: number[] = []
  const until = Date.now() + ms
  while (Date.now() < until) {
    for (const port of ports) {
      seen.push(await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(3_000) }).then((r) => r.status, () => 0))
    }
    await new Promise((r) => setTimeout(r, 1_000))
  }
  return seen
}

describe('S1–S3: a dependency paused 15 s mid-burst', () => {
  it('S2: MariaDB paused — settlement waits and resumes, no consumer is lost, the workers are not ready meanwhile', async () => {
    let readiness: number[] = []
    await faultMidBurst('S2 MariaDB SIGSTOP 15 s', fixture, () => pauseService('mariadb', STALL_MS, async () => { readiness = await readinessDuring(STALL_MS - 2_000) }))
    expect(readiness.filter((s) => s === 503).length, `the workers said they were ready while MySQL answered nothing: ${readiness.join(' ')}`).toBeGreaterThan(0)
  }, 360_000)

  it('S3: Kafka paused — publishes time out and are cancelled, both consumers rejoin', async () => {
    await faultMidBurst('S3 Kafka SIGSTOP 15 s', fixture, () => pauseService('kafka', STALL_MS))
  }, 360_000)

  it('S1: Redis paused — purchases are answered within 5 s, reservations in doubt are settled or undone', async () => {
    await faultMidBurst('S1 Redis SIGSTOP 15 s', fixture, () => pauseService('redis', STALL_MS))
  }, 360_000)
})
