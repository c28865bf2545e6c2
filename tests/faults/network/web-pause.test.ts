/**
 * S4: one of two web instances SIGSTOPped for 15 s behind NGINX, mid-burst. Its sockets stay open, so
 * NGINX's connections to it are accepted and never answered. Every request routed to it must still be
 * answered within 5 s from the reason table: a read, or a purchase that never reached the instance, is
 * refused or retried on the other one; a purchase that reached it may still be carried out when it
 * wakes up, so its honest answer is OUTCOME_UNKNOWN (504), never a bare 5xx.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePort } from '../../support/processes'
import { stack } from '../hard/support'
import { pause } from './harness'
import { faultMidBurst, heldPaused, networkSale } from './support'

const fixture = networkSale()
let nginx: { url: string, prefix: string, stop: () => Promise<void> }

beforeAll(async () => {
  nginx = await stack.startNginx({ name: 'nginx-web-pause', port: await freePort(), upstreams: fixture.procs.webs.map((w) => w.port!) })
}, 60_000)

afterAll(async () => {
  await nginx?.stop()
})

describe('S4: a web instance paused 15 s behind NGINX', () => {
  it('answers every shopper within 5 s from the reason table, and the paused instance\'s purchases end consistent', async () => {
    const web = fixture.procs.webs[0]!
    await faultMidBurst('S4 one web SIGSTOP 15 s behind NGINX', fixture, async () => heldPaused(await pause(web.pid), 15_000), {
      urls: () => [nginx.url],
    })
    // the fault reached shoppers: NGINX sent requests to the paused instance and gave up on them
    const log = readFileSync(join(nginx.prefix, 'logs', 'access.log'), 'utf8')
    const toPaused = log.split('\n').filter((l) => l.includes(`127.0.0.1:${web.port}`) && /\b504\b/.test(l))
    expect(toPaused.length, 'no request routed to the paused instance timed out').toBeGreaterThan(0)
  }, 360_000)
})
