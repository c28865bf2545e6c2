/**
 * N1, N3, N5, N6: faults on the links between the web instances and what they call, mid-burst, each
 * proven by a probe in the service's own protocol (harness.ts):
 *  - N1 web → Redis black hole 10 s: the reserve script sent, no reply (an ambiguous reservation;
 *    the held bytes, reserve and cancel alike, reach Redis when the link heals);
 *  - N3 web → Kafka black hole 10 s while Redis answers: each publish's outcome unknown;
 *  - N5 every link of every part 200 ms ± 100 ms late, replies capped at 256 KB/s, for 30 s;
 *  - N6 web → Keycloak cut: tokens the web knows keep buying; a token signed by a key it does not
 *    know is refused UNAUTHORIZED, at once.
 */
import { generateKeyPairSync, sign } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { sleep } from '../support'
import { faultMidBurst, networkSale, ANSWER_WITHIN_MS } from './support'
import type { Link } from './harness'
import { procedureUrl } from '../../support/api'

const fixture = networkSale()

/** `fault` on `link` for `ms` (proven by `prove`), then healed — also when the test fails meanwhile. */
async function onLink(
  link: Link,
  fault: () => Promise<unknown>,
  prove: () => Promise<string>,
  ms: number,
  during: () => Promise<unknown> = async () => {},
) {
  const started = Date.now()
  await fault()
  let happened: string
  try {
    happened = await prove()
    await Promise.all([sleep(ms - (Date.now() - started)), during()])
  } finally {
    await link.heal()
  }
  return { resumedAt: Date.now(), happened: `${happened} (${((Date.now() - started) / 1000).toFixed(1)} s)` }
}

/** An access token with valid claims signed by a key Keycloak never had. */
function tokenOfUnknownKey(): string {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const part = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url')
  const now = Math.floor(Date.now() / 1000)
  const head = `${part({ alg: 'RS256', typ: 'JWT', kid: `unknown-${now}` })}.${part({ iss: process.env.OIDC_ISSUER, azp: 'flash-sale-cli', typ: 'Bearer', sub: 'f0f0f0f0-0000-4000-8000-000000000000', email: 'mallory@example.com', iat: now, exp: now + 300 })}`
  return `${head}.${sign('sha256', Buffer.from(head), privateKey).toString('base64url')}`
}

describe('faults on the web instances\' links', () => {
  it('N1: web → Redis black hole 10 s — every purchase answered in time, no reservation in doubt left behind', async () => {
    const redis = fixture.webs.redis
    await faultMidBurst('N1 web → Redis black hole 10 s', fixture,
      () => onLink(redis, () => redis.blackHole(), () => redis.proveBlackHole(), 10_000))
  }, 360_000)

  it('N3: web → Kafka black hole 10 s (Redis answering) — publishes in doubt are undone or settled, never both', async () => {
    const kafka = fixture.webs.kafka
    await faultMidBurst('N3 web → Kafka black hole 10 s', fixture,
      () => onLink(kafka, () => kafka.blackHole(), () => kafka.proveBlackHole(), 10_000))
  }, 360_000)

  it('N5: every link 200 ms ± 100 ms late with replies capped at 256 KB/s for 30 s — slower, never wrong', async () => {
    const { net, webs, workerParts } = fixture
    const links = [webs, ...workerParts].flatMap((p) => p.links)
    await faultMidBurst('N5 every link 200 ± 100 ms, 256 KB/s, 30 s', fixture, async () => {
      const started = Date.now()
      let happened: string
      await net.everyLink(async (l) => {
        await l.latency(200, 100)
        await l.bandwidth(256)
      })
      try {
        const ms = await Promise.all([webs.redis, webs.mysql, webs.kafka, workerParts[0]!.mysql].map((l) => l.proveLatency(100)))
        happened = `latency and bandwidth cap on all ${links.length} links; probes took ${ms.map((m) => m.toFixed(0)).join(', ')} ms (web → Redis, MySQL, Kafka; worker → MySQL)`
        await sleep(30_000 - (Date.now() - started))
      } finally {
        await net.healAll()
      }
      return { resumedAt: Date.now(), happened }
    })
  }, 360_000)

  it('N6: web → Keycloak cut — known tokens keep buying, a token of an unknown key is refused at once', async () => {
    const keycloak = fixture.webs.keycloak
    const refusals: { status: number, reason?: string, ms: number }[] = []
    const probeUnknownKey = async () => {
      for (let i = 0; i < 5; i++) {
        const sent = Date.now()
        const res = await fetch(procedureUrl(fixture.procs.urls()[0]!, 'order.purchase'), {
          method: 'POST',
          headers: { authorization: `Bearer ${tokenOfUnknownKey()}`, 'content-type': 'application/json' },
          body: JSON.stringify({ couponId: 1 }),
          signal: AbortSignal.timeout(10_000),
        })
        const json = await res.json() as { error?: { data?: { reason?: string } } }
        refusals.push({ status: res.status, reason: json.error?.data?.reason, ms: Date.now() - sent })
        await sleep(1_500)
      }
    }
    await faultMidBurst('N6 web → Keycloak cut 10 s', fixture, () => onLink(keycloak, () => keycloak.cut(), async () => {
      const [through, direct] = await Promise.all([keycloak.probe(), keycloak.probeDirect()])
      expect({ through: through.error, direct: direct.answered }).toEqual({ through: 'ECONNREFUSED', direct: true })
      return `${keycloak.name} refused connections while Keycloak itself answered`
    }, 10_000, probeUnknownKey))
    expect(refusals.length).toBe(5)
    for (const r of refusals) {
      expect(r).toMatchObject({ status: 401, reason: 'UNAUTHORIZED' })
      expect(r.ms).toBeLessThan(ANSWER_WITHIN_MS)
    }
  }, 360_000)
})
