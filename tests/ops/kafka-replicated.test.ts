/*
 * Replicated Kafka (the 3-broker case of F3 in docs/reliability.md): three combined KRaft broker+controller nodes from
 * the cached Kafka jars, replication factor 3 and min.insync.replicas 2; two built payment workers
 * settle a burst of in-process purchases while the broker leading the most partitions is SIGKILLed in
 * the middle of it, and every accepted order is settled exactly once. Part of `npm test` (three extra
 * JVMs of up to 384 MB each, about a minute); on its own:
 *   npm test -- tests/ops/kafka-replicated.test.ts
 * or, against an already running test stack (after `npm run build`):
 *   set -a; . .stack/test/env; set +a; npx vitest run tests/ops/kafka-replicated.test.ts
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'

// Before any server import: config() parses the environment once, so the in-process publisher must see
// the three brokers from the start. Free loopback ports are picked here, so this runs asynchronously.
const cluster = await vi.hoisted(async () => {
  const net = await import('node:net')
  const servers = await Promise.all(Array.from({ length: 6 }, () => new Promise<import('node:net').Server>((resolve) => {
    const s = net.createServer()
    s.listen(0, '127.0.0.1', () => resolve(s))
  })))
  const free = servers.map((s) => (s.address() as { port: number }).port)
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))))
  const ports = [0, 1, 2].map((i) => [free[i]!, free[i + 3]!] as [number, number])
  process.env.KAFKA_BROKERS = ports.map(([p]) => `127.0.0.1:${p}`).join(',')
  return { ports }
})

/* eslint-disable import/first -- these imports must come after the environment switch above */
import { createConnection } from 'node:net'
import { sql } from 'kysely'
import type { Admin } from 'kafkajs'
import { closeDb, db } from '../../server/db'
import { closeRedis, redis } from '../../server/redis/client'
import { kafka, topics } from '../../server/kafka/client'
import { closePaymentPublisher, purchaseCoupon } from '../../server/domain/orders/purchase'
import { auditInvariants } from '../../server/domain/audit/service'
import { DomainError } from '../../server/domain/errors'
import { couponState, createCouponOnSale, createUsers, ensureStockLoaded, eventually } from '../support/data'
import { startWorker, type Proc } from '../support/processes'
import { startKafkaCluster, type KafkaCluster } from './support/kafka-cluster'
import { setTimeout as sleep } from 'node:timers/promises'
/* eslint-enable import/first */

const listening = (port: number) => new Promise<boolean>((resolve) => {
  const s = createConnection({ host: '127.0.0.1', port })
  s.once('connect', () => { s.destroy(); resolve(true) })
  s.once('error', () => resolve(false))
})

describe('replicated Kafka: 3 KRaft brokers, RF 3, min ISR 2', () => {
  let kc: KafkaCluster | undefined
  let admin: Admin | undefined
  const workers: Proc[] = []

  async function partitions() {
    const { topics: meta } = await admin!.fetchTopicMetadata({ topics: [topics.paymentRequests, topics.deadLetters] })
    return meta.flatMap((t) => t.partitions.map((p) => ({ topic: t.name, ...p })))
  }

  beforeAll(async () => {
    expect(process.env.KAFKA_BROKERS?.split(',')).toHaveLength(3)
    kc = await startKafkaCluster(cluster.ports)
    expect(kc.brokers).toBe(process.env.KAFKA_BROKERS)
    // RF 3 is refused until all three brokers have registered: retry for a while.
    for (const topic of [topics.paymentRequests, topics.deadLetters]) {
      const deadline = Date.now() + 60_000
      for (;;) {
        try {
          await kc.topicCommand(['--create', '--if-not-exists', '--topic', topic, '--partitions', '6', '--replication-factor', '3'])
          break
        } catch (error) {
          if (Date.now() > deadline) throw error
          await sleep(1000)
        }
      }
    }
    admin = kafka().admin()
    await admin.connect()
    const fullIsr = await eventually(async () => {
      const ps = await partitions()
      return ps.length === 12 && ps.every((p) => p.replicas.length === 3 && p.isr.length === 3)
    }, 60_000, 500)
    expect(fullIsr).toBe(true)
    const describeOut = await kc.topicCommand(['--describe', '--topic', topics.paymentRequests])
    expect(describeOut).toMatch(/ReplicationFactor:\s*3/)
    expect(describeOut).toMatch(/min\.insync\.replicas=2/)
    await ensureStockLoaded()
    workers.push(...(await Promise.all([0, 1].map(() => startWorker({ KAFKA_BROKERS: kc!.brokers })))))
  }, 240_000)

  afterAll(async () => {
    await Promise.all(workers.map((w) => w.stop()))
    await admin?.disconnect().catch(() => {})
    await closePaymentPublisher().catch(() => {})
    await closeRedis()
    await closeDb()
    await kc?.stop()
  }, 60_000)

  it('settles every accepted order exactly once when a broker is SIGKILLed mid-burst', async () => {
    const couponId = await createCouponOnSale({ stock: 400, price: 100 })
    const users = await createUsers(300, 10_000)

    // The victim: the broker leading the most payment-requests partitions.
    const leads = new Map<number, number>()
    for (const p of await partitions()) if (p.topic === topics.paymentRequests) leads.set(p.leader, (leads.get(p.leader) ?? 0) + 1)
    const victimId = [...leads.entries()].sort((a, b) => b[1] - a[1])[0]![0]
    const victim = kc!.nodes.find((n) => n.id === victimId)!

    type Outcome = { userId: number, at: number, orderId?: string, reason?: string }
    const outcomes: Promise<Outcome>[] = []
    const buy = (userId: number): Promise<Outcome> => purchaseCoupon(userId, couponId, `kafka-rf3-${userId}`).then(
      (r) => ({ userId, at: Date.now(), orderId: r.orderId }),
      (e: unknown) => ({ userId, at: Date.now(), reason: e instanceof DomainError ? e.reason : String(e) }),
    )
    // 50 waves of 6 shoppers, 200 ms apart (~10 s); the kill comes after wave 12.
    let killedAt = 0
    for (let wave = 0; wave < 50; wave++) {
      for (const userId of users.slice(wave * 6, wave * 6 + 6)) outcomes.push(buy(userId))
      if (wave === 12) {
        victim.child.kill('SIGKILL')
        killedAt = Date.now()
      }
      await sleep(200)
    }
    const results = await Promise.all(outcomes)

    // The broker did die, and by our signal.
    expect(await victim.exited).toEqual({ code: null, signal: 'SIGKILL' })
    expect(await listening(victim.port)).toBe(false)

    const accepted = results.filter((r) => r.orderId)
    const refusals = results.filter((r) => !r.orderId).map((r) => r.reason)
    // The cluster kept taking orders with two brokers, and nothing worse than "try again" was answered.
    expect(accepted.length).toBeGreaterThan(0)
    expect(accepted.filter((r) => r.at > killedAt + 5_000).length).toBeGreaterThan(0)
    expect(refusals.filter((r) => r !== 'TRY_AGAIN_LATER')).toEqual([])

    // Every accepted order ends PAID or FAILED in MySQL, and nothing is left pending in Redis.
    const acceptedIds = accepted.map((r) => r.orderId!)
    const settled = await eventually(async () => {
      const rows = await db().selectFrom('orders').select(['id', 'status']).where('id', 'in', acceptedIds).execute()
      const state = await couponState(couponId)
      return rows.length === acceptedIds.length && rows.every((r) => r.status === 'PAID' || r.status === 'FAILED') && state.pending === 0
        ? rows
        : undefined
    }, 90_000, 500)
    expect(settled, 'every accepted order settled').toBeTruthy()

    // Exactly once: one order row per accepted id; every payment belongs to an accepted order and took
    // credit once; paid = stock sold in MySQL and in Redis.
    const rows = await db().selectFrom('orders').select(['id', 'status', 'reason']).where('coupon_id', '=', couponId).execute()
    const paid = rows.filter((r) => r.status === 'PAID').map((r) => r.id)
    const acceptedSet = new Set(acceptedIds)
    expect(paid.every((id) => acceptedSet.has(id))).toBe(true)
    expect(paid.length).toBe(accepted.length) // everyone had the credit
    const ledger = await db().selectFrom('credit_ledger').select(['order_id', sql<number>`COUNT(*)`.as('n')])
      .where('kind', '=', 'PURCHASE').where('order_id', 'in', paid).groupBy('order_id').execute()
    expect(ledger).toHaveLength(paid.length)
    expect(ledger.every((l) => Number(l.n) === 1)).toBe(true)
    const state = await couponState(couponId)
    expect(state.paid).toBe(paid.length)
    expect(state.totalStock - state.mysqlStock).toBe(paid.length)
    expect(state.redisStock! + state.pending + state.paid).toBe(state.totalStock)
    expect(state.buyers).toBe(paid.length)

    const checks = await auditInvariants(db(), redis())
    expect(checks.filter((c) => !c.ok), JSON.stringify(checks, null, 1)).toEqual([])

    // The victim's partitions were taken over: every partition is led by a live broker.
    const after = await partitions()
    expect(after.every((p) => p.leader !== victimId && p.isr.length >= 2)).toBe(true)
    console.info(
      JSON.stringify({
        victim: victimId,
        led: leads.get(victimId),
        accepted: accepted.length,
        refused: refusals.length,
        afterKill: accepted.filter((r) => r.at > killedAt).length,
        paid: paid.length,
      }),
    )
  }, 180_000)
})
