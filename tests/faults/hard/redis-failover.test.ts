/**
 * F2 (docs/reliability.md): a Redis Cluster (3 masters + 3 replicas on loopback) fails over to a replica that
 * is behind. The replica of the coupon's master is SIGSTOPped during the burst and its replication
 * link cut (on loopback a running replica is never behind, so without this the test proves nothing);
 * the master keeps taking reservations it will never pass on; then the master is SIGKILLed, the
 * replica SIGCONTed and made master (`CLUSTER FAILOVER TAKEOVER`). Redis has forgotten its last writes
 * for exactly that shard, and the product must heal it.
 */
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createCouponOnSale, eventually } from '../../support/data'
import type { Shopper } from '../../support/shoppers'
import { createScratchDatabase, startRedisCluster, type RedisServers, type ScratchDatabase } from '../../ops/support/backends'
import { burst, keys, type StackProc } from '../support'
import { closeConnections, newSale, recoversFully, reporting, sharedShoppers, stack, until } from './support'

const run = promisify(execFile)
const cli = async (port: number, ...args: string[]) => (await run('redis-cli', ['-p', String(port), ...args])).stdout
let cluster: RedisServers
let scratch: ScratchDatabase
let shoppers: Shopper[] = []
const procs: (StackProc & { url?: string })[] = []
const savedEnv = { ...process.env }
let env: Record<string, string> = {}

beforeAll(async () => {
  ;[cluster, scratch, shoppers] = await Promise.all([startRedisCluster(3, { replicas: 1 }), createScratchDatabase(), sharedShoppers(120)])
  env = { REDIS_CLUSTER_NODES: cluster.nodes.join(','), DATABASE_URL: scratch.url, PURCHASE_RATE_LIMIT: '100' }
  delete process.env.REDIS_URL
  Object.assign(process.env, env)
  procs.push(
    ...(await Promise.all([stack.startWeb({ env }), stack.startWeb({ env }), stack.startWorker({ env }), stack.startWorker({ env })])),
  )
}, 240_000)

afterAll(async () => {
  await Promise.all(procs.map((p) => p.stop(15_000).catch(() => {})))
  await closeConnections()
  await Promise.all([cluster?.stop(), scratch?.drop()])
  process.env = savedEnv
})

/** The ports of the master serving `key`'s slot and of its replica (from CLUSTER NODES). */
async function shardOf(key: string, anyPort: number) {
  const slot = Number((await cli(anyPort, 'cluster', 'keyslot', key)).trim())
  const nodes = (await cli(anyPort, 'cluster', 'nodes')).trim().split('\n').map((l) => l.split(' '))
  const port = (n: string[]) => Number(/:(\d+)@/.exec(n[1]!)![1])
  const master = nodes.find((n) => n[2]!.includes('master') && n.slice(8).some((r) => {
    const [a, b] = r.split('-').map(Number)
    return slot >= a! && slot <= (b ?? a)!
  }))!
  const replica = nodes.find((n) => n[2]!.includes('slave') && n[3] === master[0])!
  return { master: port(master), replica: port(replica) }
}

describe('F2: Redis Cluster fails over to a lagging replica', () => {
  it('loses the shard\'s last writes, answers no 500, and heals: audit passes, the rest of the stock sells exactly', async () => {
    const webUrls = procs.filter((p) => p.url).map((p) => p.url!)
    const urls = () => webUrls
    const couponId = await createCouponOnSale({ stock: 80, price: 10 })
    const sale = newSale('F2 Redis Cluster failover to a lagging replica', couponId, shoppers, urls)
    await reporting(sale, async () => {
      const { master, replica } = await shardOf(keys.stock(couponId), cluster.servers[0]!.port)
      const masterProc = cluster.servers.find((s) => s.port === master)!.child
      const replicaProc = cluster.servers.find((s) => s.port === replica)!.child
      const running = burst(urls, shoppers, couponId, { spreadMs: 3_000, deadlineMs: 120_000 })
      const buyersOnMaster = async () => Number((await cli(master, 'scard', keys.buyers(couponId))).trim())
      await until('buyers before the replica stops', buyersOnMaster, 5)
      replicaProc.kill('SIGSTOP')
      await cli(master, 'client', 'kill', 'type', 'replica') // the link breaks; a stopped replica cannot come back for more
      const offsetAtStop = Number(/master_repl_offset:(\d+)/.exec(await cli(master, 'info', 'replication'))![1])
      await until('buyers the stopped replica never saw', buyersOnMaster, 30)
      const buyersBefore = await cli(master, 'smembers', keys.buyers(couponId))
      const offsetAtKill = Number(/master_repl_offset:(\d+)/.exec(await cli(master, 'info', 'replication'))![1])
      masterProc.kill('SIGKILL')
      replicaProc.kill('SIGCONT')
      await cli(replica, 'cluster', 'failover', 'takeover')
      const tookOver = await eventually(
        async () =>
          (await cli(replica, 'info', 'replication')).includes('role:master') &&
          (await cli(replica, 'cluster', 'info')).includes('cluster_state:ok'),
        30_000,
        200,
      )
      const recoveredAt = Date.now()
      expect(tookOver, 'the replica did not take over').toBe(true)
      expect(masterProc.signalCode ?? (await new Promise((r) => masterProc.once('exit', (_c, s) => r(s))))).toBe('SIGKILL')
      // the fault happened: the new master has forgotten buyers the old one had
      const before = buyersBefore.trim().split('\n').filter(Boolean)
      const after = new Set((await cli(replica, 'smembers', keys.buyers(couponId))).trim().split('\n').filter(Boolean))
      const forgotten = before.filter((u) => !after.has(u))
      sale.row.happened = `replica SIGSTOPped, master SIGKILLed ${offsetAtKill - offsetAtStop} replication bytes ahead; takeover; ${forgotten.length} of ${before.length} buyers forgotten`
      expect(offsetAtKill).toBeGreaterThan(offsetAtStop)
      expect(forgotten.length, 'the replica had every buyer: it was not behind').toBeGreaterThan(0)

      const first = await running
      sale.attempts.push(...first.attempts)
      expect(first.outcomes.GAVE_UP ?? 0).toBe(0)
      const live = cluster.servers.filter((s) => s.port !== master).map((s) => `127.0.0.1:${s.port}`).join(',')
      await recoversFully(sale, recoveredAt, { REDIS_URL: undefined, REDIS_CLUSTER_NODES: live, DATABASE_URL: scratch.url })
    })
  }, 300_000)
})
