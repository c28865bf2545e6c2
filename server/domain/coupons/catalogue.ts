import { config } from '../../config'
import { db } from '../../db'
import { onInvalidate, publishInvalidation } from '../../cache/invalidation'
import { createL1, type L1 } from '../../cache/l1'
import { withLock } from '../../cache/lock'
import { cacheStats } from '../../cache/metrics'
import { readList, writeList } from '../../cache/page-list'
import { unlinkMatching } from '../../cache/scan'
import { createSingleFlight } from '../../cache/single-flight'
import { redis, type RedisClient } from '../../redis/client'
import { keys } from '../../redis/keys'
import { DomainError } from '../errors'
import { selectCoupon, selectCouponPage, toCoupon } from './repository'
import type { Coupon, CouponPage } from './schemas'
import { log } from '../../observability/log'

/*
 * The read path (docs/architecture.md, "The browse flow"): L1 (this process) → L2 (Redis) → MySQL. A page's L2
 * rebuild runs under a Redis mutex with a watchdog, and concurrent callers in one process share one
 * load (single-flight). Invalidation bumps a generation number in Redis: a rebuild that read MySQL
 * before an admin edit notices it and drops what it wrote, so an edit is never hidden for a whole TTL.
 */

/**
 * Where the catalogue reads and writes. A process always uses its Redis, MySQL and the Redlock mutex;
 * unit tests of the cache logic hand it an in-memory Redis and table instead (useCatalogueSources).
 */
export interface CatalogueSources {
  redis: () => RedisClient
  selectCoupon: (id: number) => Promise<Coupon | null>
  selectPage: (page: number, pageSize: number) => Promise<{ items: Coupon[], total: number }>
  withLock: typeof withLock
}

const processSources: CatalogueSources = {
  redis,
  selectCoupon: async (id) => {
    const row = await selectCoupon(db(), id)
    return row ? toCoupon(row) : null
  },
  selectPage: (page, pageSize) => selectCouponPage(db(), page, pageSize),
  withLock,
}
let sources = processSources

/** Replaces some sources (all of them back with no argument); L1 stays as it is (forgetCoupons). */
export function useCatalogueSources(replacement: Partial<CatalogueSources> = {}): void {
  sources = { ...processSources, ...replacement }
}

/** L2 (and L1) marker of an unknown coupon id. A coupon's JSON always starts with `{`. */
const MISSING = 'missing'
/** A lock loser re-reads L2 after these waits (≈ 50 ms in all) before answering TRY_AGAIN_LATER. */
const LOSER_RECHECKS_MS = [10, 15, 25]

function settings() {
  const c = config()
  return {
    cache: c.CATALOGUE_CACHE === 'on',
    l1: c.CATALOGUE_CACHE === 'on' && c.CATALOGUE_L1 === 'on',
    l1TtlMs: c.CATALOGUE_L1_TTL_MS,
    l2TtlMs: c.CATALOGUE_L2_TTL_MS,
    missingTtlMs: c.CATALOGUE_MISSING_TTL_MS,
    leaseMs: c.CATALOGUE_LOCK_LEASE_MS,
  }
}

let l1Caches: { pages: L1<CouponPage>, coupons: L1<Coupon | typeof MISSING> } | undefined
function l1() {
  if (!l1Caches) {
    const { l1TtlMs, l2TtlMs } = settings()
    // A stale copy is offered to lock losers only while it is no older than L2 itself may be.
    const common = { ttlMs: l1TtlMs, staleForMs: l2TtlMs }
    l1Caches = {
      pages: createL1<CouponPage>({ ...common, max: 2_000, maxBytes: 32 * 1024 * 1024 }),
      coupons: createL1<Coupon | typeof MISSING>({ ...common, max: 20_000, maxBytes: 16 * 1024 * 1024 }),
    }
  }
  return l1Caches
}

// Bumped by every invalidation: a load that began before one must not store what it read into L1.
let epoch = 0

function forgetLocally(couponId: number | null): void {
  epoch++
  cacheStats.invalidations++
  if (!l1Caches) return
  // Any coupon change can move it between pages or change the total, so every page goes.
  l1Caches.pages.clear()
  if (couponId === null) l1Caches.coupons.clear()
  else l1Caches.coupons.delete(String(couponId))
}

onInvalidate((message) => {
  // Stock coming back only matters to the sold-out flags: cached stock is allowed to be stale.
  if (message.reason !== 'stock-returned') forgetLocally(message.couponId)
})

const jittered = (ttlMs: number) => ttlMs + Math.floor(Math.random() * ttlMs * 0.1)

async function generation(): Promise<string> {
  return (await sources.redis().get(keys.catalogueGeneration)) ?? '0'
}

/** Drops what a rebuild just wrote if an invalidation ran since it captured `seen`. */
async function dropIfInvalidatedSince(key: string, seen: string): Promise<void> {
  if ((await generation()) !== seen) await sources.redis().unlink(key)
}

function warn(msg: string, error: unknown, extra: Record<string, unknown> = {}) {
  log.warn(msg, { ...extra, error })
}

// ---------------------------------------------------------------------------------------------
// Coupons

const couponFlight = createSingleFlight<Coupon | null>()

/** A coupon as cached (its `stock` may be up to one L2 TTL old); null for an unknown id. */
export async function findCoupon(id: number): Promise<Coupon | null> {
  const s = settings()
  if (!s.cache) return await selectCouponFromDb(id)
  if (s.l1) {
    const hit = l1().coupons.get(String(id))
    if (hit !== undefined) {
      cacheStats.l1Hit++
      return hit === MISSING ? null : hit
    }
    cacheStats.l1Miss++
  }
  return await couponFlight(String(id), () => loadCoupon(id))
}

async function selectCouponFromDb(id: number): Promise<Coupon | null> {
  cacheStats.dbLoad++
  return await sources.selectCoupon(id)
}

// A coupon read is one primary-key lookup, so a miss needs no mutex: single-flight bounds it to one
// query per instance, and the purchase path never has to answer TRY_AGAIN_LATER for a cold coupon.
async function loadCoupon(id: number): Promise<Coupon | null> {
  const s = settings()
  const startEpoch = epoch
  const key = keys.couponCache(id)
  const remember = (coupon: Coupon | null, bytes: number) => {
    if (s.l1 && epoch === startEpoch) l1().coupons.set(String(id), coupon ?? MISSING, bytes, coupon ? undefined : s.missingTtlMs)
    return coupon
  }

  let redisUp = true
  try {
    const raw = await sources.redis().get(key)
    if (raw !== null) {
      cacheStats.l2Hit++
      return remember(raw === MISSING ? null : JSON.parse(raw) as Coupon, raw.length)
    }
  } catch (error) {
    redisUp = false
    warn('coupon L2 read failed; reading MySQL', error, { couponId: id })
  }
  cacheStats.l2Miss++

  const seen = redisUp ? await generation().catch(() => null) : null
  const coupon = await selectCouponFromDb(id)
  const value = coupon ? JSON.stringify(coupon) : MISSING
  if (seen !== null) {
    try {
      await sources.redis().set(key, value, 'PX', coupon ? jittered(s.l2TtlMs) : s.missingTtlMs)
      await dropIfInvalidatedSince(key, seen)
    } catch (error) {
      warn('coupon L2 write failed', error, { couponId: id })
    }
  }
  return remember(coupon, value.length)
}

/** A coupon with its live stock from Redis. */
export async function getCoupon(id: number): Promise<Coupon> {
  const coupon = await findCoupon(id)
  if (!coupon) throw new DomainError('NOT_FOUND', 'No such coupon')
  const live = await sources.redis().get(keys.stock(id))
  return live === null ? coupon : { ...coupon, stock: Math.max(0, Number(live)) }
}

// ---------------------------------------------------------------------------------------------
// Pages

interface LoadedPage { page: CouponPage, bytes: number }

const pageFlight = createSingleFlight<CouponPage>()

/** One page of the catalogue, ordered by sale start then id; its stock may be up to one L2 TTL old. */
export async function listCoupons(page: number, pageSize: number): Promise<CouponPage> {
  const s = settings()
  if (!s.cache) return await selectPageFromDb(page, pageSize)
  const id = `${page}:${pageSize}`
  if (s.l1) {
    const hit = l1().pages.get(id)
    if (hit) {
      cacheStats.l1Hit++
      return hit
    }
    cacheStats.l1Miss++
  }
  return await pageFlight(id, () => loadPage(page, pageSize))
}

async function selectPageFromDb(page: number, pageSize: number): Promise<CouponPage> {
  cacheStats.dbLoad++
  const { items, total } = await sources.selectPage(page, pageSize)
  return { items, page, pageSize, total }
}

async function readPage(page: number, pageSize: number): Promise<LoadedPage | null> {
  const cached = await readList<Coupon>(sources.redis(), keys.pageCache(page, pageSize))
  return cached && { page: { items: cached.items, page, pageSize, total: cached.total }, bytes: cached.bytes }
}

async function loadPage(page: number, pageSize: number): Promise<CouponPage> {
  const s = settings()
  const id = `${page}:${pageSize}`
  const startEpoch = epoch
  const remember = ({ page: value, bytes }: LoadedPage) => {
    if (s.l1 && epoch === startEpoch) l1().pages.set(id, value, bytes)
    return value
  }

  let hit: LoadedPage | null
  try {
    hit = await readPage(page, pageSize)
  } catch (error) {
    // Redis is down: browsing stays up, and single-flight still limits MySQL to one query per instance.
    warn('page L2 read failed; reading MySQL', error, { page, pageSize })
    return remember({ page: await selectPageFromDb(page, pageSize), bytes: 0 })
  }
  if (hit) {
    cacheStats.l2Hit++
    return remember(hit)
  }
  cacheStats.l2Miss++

  const outcome = await sources.withLock(keys.pageRebuildLock(page, pageSize), s.leaseMs, () => rebuildPage(page, pageSize))
  if (outcome.status === 'acquired') return remember(outcome.value)
  if (outcome.status === 'unavailable') {
    warn('page lock unavailable; reading MySQL', outcome.error, { page, pageSize })
    return remember({ page: await selectPageFromDb(page, pageSize), bytes: 0 })
  }

  cacheStats.lockContended++
  const stale = s.l1 ? l1().pages.stale(id) : undefined
  if (stale) {
    cacheStats.staleServed++
    return stale
  }
  for (const waitMs of LOSER_RECHECKS_MS) {
    await new Promise((resolve) => setTimeout(resolve, waitMs))
    const filled = await readPage(page, pageSize).catch(() => null)
    if (filled) {
      cacheStats.l2Hit++
      return remember(filled)
    }
  }
  cacheStats.tryAgainLater++
  throw new DomainError('TRY_AGAIN_LATER', 'The catalogue is being refreshed; try again in a moment', 1)
}

/** Runs under the page mutex: MySQL → L2, unless the previous holder already filled it. */
async function rebuildPage(page: number, pageSize: number): Promise<LoadedPage> {
  const filled = await readPage(page, pageSize)
  if (filled) return filled
  const key = keys.pageCache(page, pageSize)
  const seen = await generation()
  const fresh = await selectPageFromDb(page, pageSize)
  let bytes = 0
  try {
    const ttlMs = jittered(settings().l2TtlMs)
    // Indexed before it is written, so an invalidation running meanwhile always finds it.
    const client = sources.redis()
    await Promise.all([client.sadd(keys.pageCacheIndex, key), client.pexpire(keys.pageCacheIndex, 2 * ttlMs)])
    bytes = await writeList(client, key, fresh.items, fresh.total, ttlMs)
    await dropIfInvalidatedSince(key, seen)
  } catch (error) {
    warn('page L2 write failed', error, { page, pageSize })
  }
  return { page: fresh, bytes }
}

// ---------------------------------------------------------------------------------------------
// Invalidation

/**
 * After an admin change to a coupon (or to all, without an id): drops the L2 pages and that coupon's
 * L2 entry (or all of them), then every instance's L1 through `cache:invalidate`.
 */
export async function invalidateCoupon(couponId?: number): Promise<void> {
  const client = sources.redis()
  await client.incr(keys.catalogueGeneration)
  const pages = await client.smembers(keys.pageCacheIndex)
  await Promise.all([
    ...pages.map((key) => client.unlink(key)),
    couponId === undefined ? unlinkMatching(client, keys.couponCachePattern) : client.unlink(keys.couponCache(couponId)),
  ])
  if (pages.length) await client.srem(keys.pageCacheIndex, ...pages)
  await publishInvalidation({ couponId: couponId ?? null, reason: 'coupon-changed' }, client)
}

/** Forgets this process's cached copies (all of them, or one coupon's and every page). */
export function forgetCoupons(couponId?: number): void {
  forgetLocally(couponId ?? null)
}
