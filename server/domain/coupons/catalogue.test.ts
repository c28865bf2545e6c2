import { setTimeout as sleep } from 'node:timers/promises'
import RedisMock from 'ioredis-mock'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { cacheStats, resetCacheStats } from '../../cache/metrics'
import { keys } from '../../redis/keys'
import { DomainError } from '../errors'
import { forgetCoupons, getCoupon, findCoupon, invalidateCoupon, listCoupons, useCatalogueSources, type CatalogueSources } from './catalogue'
import type { Coupon } from './schemas'

/*
 * The catalogue's cache logic (L1 → L2 → MySQL, single-flight, the rebuild mutex's losers, missing
 * ids, invalidation) against an in-memory Redis and a table in an array. tests/catalogue/ proves the
 * same paths against real Redis, MySQL and several web instances.
 */

const L1_TTL_MS = 300
const MISSING_TTL_MS = 5_000
const env = {
  DATABASE_URL: 'mysql://unit:unit@127.0.0.1:1/none', REDIS_URL: 'redis://127.0.0.1:1', KAFKA_BROKERS: '127.0.0.1:1',
  OIDC_ISSUER: 'http://127.0.0.1:1/realms/none', LOG_LEVEL: 'error',
  CATALOGUE_L1_TTL_MS: String(L1_TTL_MS), CATALOGUE_MISSING_TTL_MS: String(MISSING_TTL_MS),
}
const saved = { ...process.env }
beforeAll(() => { Object.assign(process.env, env) })
afterAll(() => {
  useCatalogueSources()
  process.env = saved
})

const coupon = (id: number): Coupon => ({
  id, name: `Coupon ${id}`, description: 'A test coupon', imageUrl: null, price: 100 * id, stock: 10,
  saleStartsAt: null, saleEndsAt: null, waitingRoom: null,
})

let client: InstanceType<typeof RedisMock>
let table: Coupon[]
let reads: { coupon: number, page: number }
/** The page mutex's answer; by default this process gets it. */
let lock: CatalogueSources['withLock']
const acquire: CatalogueSources['withLock'] = async (_name, _leaseMs, work) => ({ status: 'acquired', value: await work() })

/** The in-memory Redis and table; `over` replaces more sources (a failing Redis, a racing read). */
function useMemory(over: Partial<CatalogueSources> = {}) {
  useCatalogueSources({
    redis: () => client,
    selectCoupon: async (id) => {
      reads.coupon++
      return table.find((c) => c.id === id) ?? null
    },
    selectPage: async (page, pageSize) => {
      reads.page++
      return { items: table.slice((page - 1) * pageSize, page * pageSize), total: table.length }
    },
    withLock: (name, leaseMs, work) => lock(name, leaseMs, work),
    ...over,
  })
}

/** Another instance: the same Redis and table, an empty L1. */
function anotherInstance() {
  forgetCoupons()
}

beforeEach(async () => {
  client ??= new RedisMock()
  await client.flushall()
  table = [1, 2, 3, 4, 5].map(coupon)
  reads = { coupon: 0, page: 0 }
  lock = acquire
  useMemory()
  forgetCoupons()
  resetCacheStats()
})

describe('coupons', () => {
  it('misses both levels once, fills L2 and L1, then answers from L1; another instance answers from L2', async () => {
    expect(await findCoupon(2)).toEqual(coupon(2))
    expect(await findCoupon(2)).toEqual(coupon(2))
    expect(reads.coupon).toBe(1)
    expect(cacheStats).toMatchObject({ l1Miss: 1, l2Miss: 1, l1Hit: 1, dbLoad: 1 })
    expect(JSON.parse((await client.get(keys.couponCache(2)))!)).toEqual(coupon(2))
    expect(await client.pttl(keys.couponCache(2))).toBeGreaterThan(120_000 - 1_000)

    anotherInstance()
    expect(await findCoupon(2)).toEqual(coupon(2))
    expect(reads.coupon).toBe(1)
    expect(cacheStats.l2Hit).toBe(1)
  })

  it('remembers an unknown id as missing, briefly, in both levels', async () => {
    expect(await findCoupon(99)).toBeNull()
    expect(await findCoupon(99)).toBeNull()
    anotherInstance()
    expect(await findCoupon(99)).toBeNull()
    expect(reads.coupon).toBe(1)
    expect(await client.get(keys.couponCache(99))).toBe('missing')
    expect(await client.pttl(keys.couponCache(99))).toBeLessThanOrEqual(MISSING_TTL_MS)
  })

  it('loads a cold coupon once for any number of concurrent callers (single-flight)', async () => {
    const answers = await Promise.all(Array.from({ length: 20 }, () => findCoupon(3)))
    expect(answers).toEqual(Array.from({ length: 20 }, () => coupon(3)))
    expect(reads.coupon).toBe(1)
  })

  it('reads MySQL when Redis fails, and stays up', async () => {
    useMemory({ redis: () => { throw new Error('connect ECONNREFUSED') } })
    expect(await findCoupon(4)).toEqual(coupon(4))
    expect(reads.coupon).toBe(1)
  })

  it('shows live stock from Redis (never below zero), and refuses an unknown coupon with NOT_FOUND', async () => {
    expect((await getCoupon(1)).stock).toBe(10)
    await client.set(keys.stock(1), '3')
    expect((await getCoupon(1)).stock).toBe(3)
    await client.set(keys.stock(1), '-2')
    expect((await getCoupon(1)).stock).toBe(0)
    await expect(getCoupon(99)).rejects.toThrow(DomainError)
    await expect(getCoupon(99)).rejects.toMatchObject({ reason: 'NOT_FOUND' })
  })
})

describe('pages', () => {
  it('rebuilds a missed page from MySQL into an indexed L2 list, which another instance reads', async () => {
    expect(await listCoupons(1, 2)).toEqual({ items: [coupon(1), coupon(2)], page: 1, pageSize: 2, total: 5 })
    expect(await listCoupons(1, 2)).toMatchObject({ total: 5 })
    expect(reads.page).toBe(1)
    expect(await client.smembers(keys.pageCacheIndex)).toEqual([keys.pageCache(1, 2)])
    expect(await client.llen(keys.pageCache(1, 2))).toBe(3) // meta + two items

    anotherInstance()
    expect((await listCoupons(1, 2)).items.map((c) => c.id)).toEqual([1, 2])
    expect(reads.page).toBe(1)
  })

  it('answers a lock loser with its stale L1 copy', async () => {
    await listCoupons(2, 2)
    await sleep(L1_TTL_MS + 50) // the L1 copy expires…
    await client.del(keys.pageCache(2, 2)) // …and so does L2, which another instance is rebuilding
    lock = async () => ({ status: 'busy' })
    expect((await listCoupons(2, 2)).items.map((c) => c.id)).toEqual([3, 4])
    expect(reads.page).toBe(1)
    expect(cacheStats).toMatchObject({ lockContended: 1, staleServed: 1 })
  })

  it('answers a lock loser without a stale copy from L2 once the holder fills it, else TRY_AGAIN_LATER', async () => {
    let filled = false
    lock = async () => {
      // the holder (another instance) writes the page a moment later
      setTimeout(() => {
        void client.rpush(keys.pageCache(1, 5), JSON.stringify({ v: 1, total: 5 }), ...table.map((c) => JSON.stringify(c))).then(() => { filled = true })
      }, 5)
      return { status: 'busy' }
    }
    expect((await listCoupons(1, 5)).items).toHaveLength(5)
    expect(filled).toBe(true)
    expect(reads.page).toBe(0)

    lock = async () => ({ status: 'busy' })
    await expect(listCoupons(2, 5)).rejects.toMatchObject({ reason: 'TRY_AGAIN_LATER', retryAfterSeconds: 1 })
    expect(cacheStats.tryAgainLater).toBe(1)
    expect(reads.page).toBe(0)
  })

  it('reads MySQL when the mutex cannot be reached', async () => {
    lock = async () => ({ status: 'unavailable', error: new Error('READONLY') })
    expect((await listCoupons(1, 3)).items).toHaveLength(3)
    expect(reads.page).toBe(1)
  })
})

describe('invalidation', () => {
  it('drops the L2 pages and the coupon\'s entry, and this instance\'s L1, so the next read sees the edit', async () => {
    await listCoupons(1, 5)
    await findCoupon(1)
    await findCoupon(2)
    table[0] = { ...coupon(1), name: 'Renamed' }
    await invalidateCoupon(1)
    expect(await client.exists(keys.pageCache(1, 5), keys.couponCache(1))).toBe(0)
    expect(await client.exists(keys.couponCache(2))).toBe(1)
    expect(await client.smembers(keys.pageCacheIndex)).toEqual([])
    expect((await findCoupon(1))?.name).toBe('Renamed')
    expect((await listCoupons(1, 5)).items[0]!.name).toBe('Renamed')
    expect(cacheStats.invalidations).toBe(1)
  })

  it('drops what a rebuild wrote when an invalidation ran while it read MySQL', async () => {
    useMemory({
      selectCoupon: async (id) => {
        reads.coupon++
        const before = table.find((c) => c.id === id) ?? null
        // an admin edit lands between this read and the cache write
        table[id - 1] = { ...coupon(id), name: 'Edited' }
        await invalidateCoupon(id)
        return before
      },
    })
    expect((await findCoupon(5))?.name).toBe('Coupon 5')
    expect(await client.exists(keys.couponCache(5))).toBe(0)
    useMemory()
    // nor did it keep the old copy in L1
    expect((await findCoupon(5))?.name).toBe('Edited')
  })

  it('forgets this process\'s copies on demand', async () => {
    await findCoupon(1)
    forgetCoupons()
    await client.flushall()
    await findCoupon(1)
    expect(reads.coupon).toBe(2)
  })
})
