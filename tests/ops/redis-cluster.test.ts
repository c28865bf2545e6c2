import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Cluster } from 'ioredis'
import { closeDb, db } from '../../server/db'
import { closeRedis, createRedis, redis, type RedisClient } from '../../server/redis/client'
import { channels, keys } from '../../server/redis/keys'
import { cancelScript, claimScript, finishScript } from '../../server/redis/scripts'
import { closePaymentPublisher, purchaseCoupon } from '../../server/domain/orders/purchase'
import { auditInvariants } from '../../server/domain/audit/service'
import { couponState, createCouponOnSale, createUsers, eventually } from '../support/data'
import { redisOnlyCoupon, reserve } from '../support/reservations'
import { startWeb, startWorker, type Proc } from '../support/processes'
import { createScratchDatabase, startRedisCluster, type RedisServers, type ScratchDatabase } from './support/backends'
import { procedureUrl } from '../support/api'

/*
 * The app against a real 3-master Redis Cluster: this process buys in-process (purchaseCoupon), a built
 * worker settles, a built web instance answers. The env is switched before the first config() call
 * (config() parses once, lazily; none of the imports above calls it at load time).
 */

let cluster: RedisServers
let scratch: ScratchDatabase
let worker: Proc | undefined
let web: Proc | undefined
const savedEnv = { ...process.env }

beforeAll(async () => {
  ;[cluster, scratch] = await Promise.all([startRedisCluster(3), createScratchDatabase()])
  delete process.env.REDIS_URL
  process.env.REDIS_CLUSTER_NODES = cluster.nodes.join(',')
  process.env.DATABASE_URL = scratch.url
  expect(redis()).toBeInstanceOf(Cluster)
  worker = await startWorker({ REDIS_CLUSTER_NODES: process.env.REDIS_CLUSTER_NODES, DATABASE_URL: scratch.url })
})

afterAll(async () => {
  await Promise.all([worker?.stop(), web?.stop()])
  await closePaymentPublisher()
  await closeRedis()
  await closeDb()
  await Promise.all([cluster?.stop(), scratch?.drop()])
  process.env = savedEnv
})

const slotOf = async (key: string) => Number(await redis().cluster('KEYSLOT', key))

describe('Redis Cluster: the Lua scripts', () => {
  it('keeps each coupon\'s keys in one slot, spreads coupons over the masters, and refuses a script over two coupons', async () => {
    for (const id of [1, 42, 9_999]) {
      const slots = await Promise.all(keys.couponKeys(id).map(slotOf))
      expect(new Set(slots).size).toBe(1)
    }
    const masters = (redis() as Cluster).nodes('master')
    expect(masters).toHaveLength(3)
    for (let id = 1; id <= 30; id++) await redis().set(keys.stock(id), 1)
    // Every master holds some of the 30 coupons' stock keys.
    for (const node of masters) expect((await node.scan('0', 'MATCH', 'coupon:*', 'COUNT', 1000))[1].length).toBeGreaterThan(0)
    // Straight to a node (the Cluster client would refuse it before sending): Redis itself says no.
    await expect(masters[0]!.eval('return 1', 2, keys.stock(1), keys.stock(2))).rejects.toThrow(/CROSSSLOT/)
    for (let id = 1; id <= 30; id++) await redis().del(...keys.couponKeys(id)) // one DEL per slot
  })

  it('never sells more than the stock under 1,500 concurrent reservations spread over three coupons on different masters', async () => {
    const coupons = [800_001, 800_002, 800_003]
    for (const id of coupons) await redisOnlyCoupon(id, 50)
    const attempts = Array.from({ length: 1500 }, (_, i) => ({ couponId: coupons[i % 3]!, userId: 1 + (i % 300) }))
    const results = await Promise.all(attempts.map(({ couponId, userId }) => reserve(couponId, userId)))
    expect(results.filter((r) => r.status === 'OK')).toHaveLength(150)
    for (const id of coupons) {
      expect(await redis().get(keys.stock(id))).toBe('0')
      expect(await redis().hlen(keys.pending(id))).toBe(50)
      expect(await redis().scard(keys.buyers(id))).toBe(50)
    }
  })

  it('lets exactly one of cancel and claim win, and releases a unit once', async () => {
    const couponId = await redisOnlyCoupon(800_010, 3)
    const { orderId: a } = await reserve(couponId, 1)
    const { orderId: b } = await reserve(couponId, 2)
    expect(await claimScript(redis(), couponId, [a])).toEqual([expect.objectContaining({ state: 'claimed', userId: 1 })])
    expect(await cancelScript(redis(), couponId, a)).toBe('CLAIMED')
    expect(await cancelScript(redis(), couponId, b)).toBe('CANCELLED')
    expect(await claimScript(redis(), couponId, [b])).toEqual(['MISSING'])
    expect(await finishScript(redis(), couponId, [[a, 'release']])).toEqual({ removed: 1, restored: 1 })
    expect(await finishScript(redis(), couponId, [[a, 'release']])).toEqual({ removed: 0, restored: 0 })
    expect(await redis().get(keys.stock(couponId))).toBe('3')
    expect(await redis().scard(keys.buyers(couponId))).toBe(0)
  })
})

describe('Redis Cluster: the whole purchase flow', () => {
  it('sells exactly the stock to concurrent buyers, settles every order through a worker, and tells the shopper over pub/sub', async () => {
    const [plenty, scarce] = [await createCouponOnSale({ stock: 25, price: 300 }), await createCouponOnSale({ stock: 10, price: 5_000 })]
    const rich = await createUsers(40, 10_000)
    const poor = await createUsers(5, 100)

    // A pretend web instance holding a socket of the first rich buyer: the worker must find it.
    const fakeServer = `test-${randomUUID()}`
    await redis().zadd(keys.presence(rich[0]!), Date.now() + 60_000, fakeServer)
    const subscriber: RedisClient = createRedis()
    const heard: string[] = []
    subscriber.on('message', (_channel: string, message: string) => heard.push(message))
    await subscriber.subscribe(channels.paymentUpdate(fakeServer))

    try {
      // The buyer with the socket goes first, so they surely get one; then the burst.
      const first = await purchaseCoupon(rich[0]!, plenty, `req-${rich[0]}-${plenty}`)
      const attempts = [...rich.slice(1).map((u) => ({ u, c: plenty })), ...poor.map((u) => ({ u, c: scarce }))]
      const results = [
        { status: 'fulfilled', value: first } as const,
        ...(await Promise.allSettled(attempts.map(({ u, c }) => purchaseCoupon(u, c, `req-${u}-${c}`)))),
      ]
      const taken = results
        .filter((r) => r.status === 'fulfilled')
        .map((r) => (r as PromiseFulfilledResult<{ orderId: string }>).value.orderId)
      const refused = results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason.reason)
      expect(taken).toHaveLength(30) // 25 of plenty, 5 of scarce (paid or not, decided by the worker)
      // held by pending orders (TRY_AGAIN_LATER) or, once they settled, SOLD_OUT
      expect(refused.filter((r) => r !== 'SOLD_OUT' && r !== 'TRY_AGAIN_LATER')).toEqual([])
      expect(refused).toHaveLength(15)

      const settled = await eventually(async () => {
        const rows = await db().selectFrom('orders').select(['id', 'status', 'reason']).where('id', 'in', taken).execute()
        return rows.length === taken.length && rows.every((r) => r.status !== 'PENDING') ? rows : undefined
      }, 45_000)
      expect(settled).toBeDefined()
      const byCoupon = (c: number) => settled!.filter((r) => r.id.startsWith(`${c}-`))
      expect(byCoupon(plenty).map((r) => r.status)).toEqual(Array(25).fill('PAID'))
      expect(byCoupon(scarce).map((r) => r.reason)).toEqual(Array(5).fill('INSUFFICIENT_CREDIT'))

      await eventually(async () => (await couponState(scarce)).redisStock === 10 && (await couponState(plenty)).pending === 0, 15_000)
      expect(await couponState(plenty)).toMatchObject({ mysqlStock: 0, redisStock: 0, pending: 0, buyers: 25, paid: 25 })
      expect(await couponState(scarce)).toMatchObject({ mysqlStock: 10, redisStock: 10, pending: 0, buyers: 0, paid: 0 })

      const told = await eventually(async () => heard.flatMap((m) => JSON.parse(m)).find((m) => m.userId === rich[0]), 10_000)
      expect(told?.update).toMatchObject({ couponId: plenty, status: 'PAID' })
      expect(told?.id).toMatch(new RegExp(`^\\d{4}-\\d\\d-\\d\\dT[\\d:.]{12}Z_${told?.update.orderId}$`))

      const checks = await auditInvariants(db(), redis())
      expect(checks.filter((c) => !c.ok)).toEqual([])
    } finally {
      await subscriber.quit()
    }
  })

  it('runs a web instance on the cluster: ready, and coupon.get answers live stock through the cache', async () => {
    const couponId = await createCouponOnSale({ stock: 7 })
    web = await startWeb({ REDIS_CLUSTER_NODES: process.env.REDIS_CLUSTER_NODES!, DATABASE_URL: scratch.url })
    const ready = await fetch(`${web.url}/readyz`)
    expect(ready.status, await ready.clone().text()).toBe(200)
    for (let i = 0; i < 2; i++) {
      const res = await fetch(procedureUrl(web.url, 'coupon.get', { id: couponId }))
      expect(res.status).toBe(200)
      const body = await res.json() as { result: { data: { id: number, stock: number } } }
      expect(body.result.data).toMatchObject({ id: couponId, stock: 7 })
    }
    expect(await redis().exists(keys.couponCache(couponId))).toBe(1)
  })
})
