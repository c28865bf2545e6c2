import { randomUUID } from 'node:crypto'
import type { DB } from '../../db'
import type { RedisClient } from '../../redis/client'
import { channels, keys } from '../../redis/keys'
import { applyRepairScript, leaseScript, snapshotScript, type CouponSnapshot } from '../../redis/scripts'
import { countOwners, selectOwnerIds, selectStocks } from '../coupons/repository'
import { failpoint } from '../failpoints'
import { selectPaidAmong } from '../orders/repository'
import { log } from '../../observability/log'

/** How long a repair lease lives without renewal (a dead repairer frees the coupon within this). */
export const REPAIR_LEASE_MS = 10_000
const MAX_ATTEMPTS = 5
const CHUNK = 1_000

/** A coupon's Redis state compared with MySQL's (the balance equations of the repair). */
export interface CouponCheck {
  couponId: number
  loaded: boolean
  version: string
  redisStock: number
  entries: number
  paidEntries: number
  mysqlStock: number
  buyers: number
  owners: number
  /** (R + |E|) − (M + |E ∩ PAID|): positive = Redis has units MySQL does not, negative = units stranded. */
  stockDrift: number
  /** SCARD(buyers) − (owners + |E \ PAID|). */
  buyersDrift: number
  /** Pending entries that do not parse (reported, never fatal). */
  unparsable: string[]
}

export const inBalance = (c: CouponCheck) => c.loaded && c.stockDrift === 0 && c.buyersDrift === 0

/**
 * Checks coupons against MySQL: Redis first (one snapshot per coupon), then MySQL, so a settlement
 * landing between the two reads moves both sides of each equation together. Coupons MySQL does not
 * know are left out.
 */
export async function checkCoupons(db: DB, redis: RedisClient, couponIds: number[]): Promise<CouponCheck[]> {
  return await balanceOf(db, await Promise.all(couponIds.map(async (id) => [id, await snapshotScript(redis, id)] as const)))
}

/** The MySQL half of checkCoupons, for snapshots already taken (the reconciler's). */
export async function balanceOf(db: DB, snapshots: (readonly [number, CouponSnapshot])[]): Promise<CouponCheck[]> {
  if (!snapshots.length) return []
  const couponIds = snapshots.map(([id]) => id)
  const entryIds = snapshots.flatMap(([, s]) => [...s.entries.keys()])
  const [stockOf, ownersOf, paid] = await Promise.all([
    selectStocks(db, couponIds),
    countOwners(db, couponIds),
    selectPaidAmong(db, entryIds),
  ])
  return snapshots.filter(([id]) => stockOf.has(id)).map(([id, s]) => balance(id, s, stockOf.get(id)!, ownersOf.get(id) ?? 0, paid))
}

export async function checkCoupon(db: DB, redis: RedisClient, couponId: number): Promise<CouponCheck | null> {
  return (await checkCoupons(db, redis, [couponId]))[0] ?? null
}

function balance(couponId: number, s: CouponSnapshot, mysqlStock: number, owners: number, paid: Set<string>): CouponCheck {
  const ids = [...s.entries.keys()]
  const paidEntries = ids.filter((id) => paid.has(id)).length
  const redisStock = s.stock ?? 0
  return {
    couponId, loaded: s.loaded, version: s.version, redisStock, entries: ids.length, paidEntries, mysqlStock, buyers: s.buyerCount, owners,
    stockDrift: redisStock + ids.length - (mysqlStock + paidEntries),
    buyersDrift: s.buyerCount - (owners + ids.length - paidEntries),
    unparsable: ids.filter((id) => typeof s.entries.get(id) === 'string'),
  }
}

/**
 * The slower check: the buyer set's members against owners ∪ users(E), which equal counts can hide
 * (a swapped member). Read in SSCAN chunks between two snapshots, so a reservation made meanwhile is
 * not "extra" and one released meanwhile is not "missing".
 */
export async function compareBuyers(db: DB, redis: RedisClient, couponId: number): Promise<{ missing: string[], extra: string[] }> {
  const users = (s: CouponSnapshot) =>
    new Map([...s.entries].flatMap(([id, e]) => (typeof e === 'string' ? [] : [[id, String(e.userId)] as const])))
  const first = users(await snapshotScript(redis, couponId))
  const members = new Set<string>()
  let cursor = '0'
  do {
    const [next, chunk] = await redis.sscan(keys.buyers(couponId), cursor, 'COUNT', CHUNK)
    for (const m of chunk) members.add(m)
    cursor = next
  } while (cursor !== '0')
  const second = users(await snapshotScript(redis, couponId))
  const owners = new Set(await selectOwnerIds(db, couponId))
  const heldThroughout = new Set([...owners, ...[...first].filter(([id]) => second.has(id)).map(([, u]) => u)])
  const heldAtAll = new Set([...owners, ...first.values(), ...second.values()])
  return {
    missing: [...heldThroughout].filter((u) => !members.has(u)).sort(),
    extra: [...members].filter((u) => !heldAtAll.has(u)).sort(),
  }
}

export type RepairResult =
  | { status: 'repaired', attempts: number, stock: number, buyers: number, quarantined: number }
  | { status: 'busy' | 'not-found' | 'lease-lost' | 'gave-up', attempts: number }

/**
 * Runs `work` holding the coupon's repair lease (`SET NX PX` with an owner token, renewed while it
 * runs, released after): reservations of the coupon answer TRY_AGAIN_LATER meanwhile. Undefined when
 * another owner holds the lease.
 */
export async function withRepairLease<T>(
  redis: RedisClient,
  couponId: number,
  work: (token: string) => Promise<T>,
): Promise<T | undefined> {
  const token = randomUUID()
  const leaseKey = keys.repair(couponId)
  if (!(await redis.set(leaseKey, token, 'PX', REPAIR_LEASE_MS, 'NX'))) return undefined
  const renew = setInterval(() => {
    leaseScript(redis, leaseKey, token, 'renew', REPAIR_LEASE_MS).catch((error) =>
      log.warn('repair lease renewal failed', { couponId, error }),
    )
  }, REPAIR_LEASE_MS / 3)
  renew.unref()
  try {
    return await work(token)
  } finally {
    clearInterval(renew)
    await leaseScript(redis, leaseKey, token, 'release').catch(() => {
      /* it expires by itself */
    })
  }
}

/**
 * Sets a coupon's Redis state from MySQL and its pending ledger, under the coupon's repair lease
 * (reservations answer TRY_AGAIN_LATER meanwhile): snapshot, read MySQL, then one script that writes
 * stock = max(0, M + |E ∩ PAID| − |E|), buyers = owners ∪ users(E) and the marker — or aborts if the
 * version moved since the snapshot (a follow-up landed), and the repair starts over. So a repair
 * racing live settlement neither creates nor destroys a unit. Entries that do not parse go to the
 * coupon's quarantine hash (they hold no unit). Also how a coupon is first loaded.
 */
export async function repairCoupon(db: DB, redis: RedisClient, couponId: number): Promise<RepairResult> {
  return await withRepairLease(redis, couponId, (token) => repairUnderLease(db, redis, couponId, token)) ?? { status: 'busy', attempts: 0 }
}

/** repairCoupon for a caller that already holds the lease (with `token`). */
export async function repairUnderLease(db: DB, redis: RedisClient, couponId: number, token: string): Promise<RepairResult> {
  let attempts = 0
  while (attempts < MAX_ATTEMPTS) {
    attempts++
    const snapshot = await snapshotScript(redis, couponId)
    const mysql = await readMysqlSide(db, couponId, [...snapshot.entries.keys()])
    if (!mysql) return { status: 'not-found', attempts }
    await failpoint('repair.before-apply')
    await stageBuyers(redis, couponId, mysql.owners)
    const result = await applyRepairScript(redis, couponId, {
      version: snapshot.version,
      token,
      mysqlStock: mysql.stock,
      paidEntries: mysql.paidEntries,
      marker: new Date(snapshot.now).toISOString(),
    })
    if (result.status === 'LEASE_LOST') return { status: 'lease-lost', attempts }
    if (result.status === 'OK') {
      // Stock may have come back: every instance drops its sold-out flag for this coupon.
      await redis.publish(channels.cacheInvalidate, JSON.stringify({ couponId, reason: 'stock-repaired' }))
      if (result.quarantined) log.error('unparsable pending entries moved to the coupon\'s quarantine', { couponId, quarantined: result.quarantined, key: keys.quarantine(couponId) })
      return { status: 'repaired', attempts, stock: result.stock!, buyers: result.buyers!, quarantined: result.quarantined ?? 0 }
    }
  }
  return { status: 'gave-up', attempts }
}

/**
 * MySQL's stock, which of the entries are PAID and the owners, as of one moment: one REPEATABLE READ
 * transaction, whose snapshot its first read fixes. Three separate reads could straddle a settlement's
 * commit (stock from before it, its order PAID after it) and make a unit out of nothing.
 */
async function readMysqlSide(db: DB, couponId: number, entryIds: string[]) {
  return await db.transaction().setIsolationLevel('repeatable read').setAccessMode('read only').execute(async (trx) => {
    const stock = (await selectStocks(trx, [couponId])).get(couponId)
    if (stock === undefined) return null
    const paid = await selectPaidAmong(trx, entryIds)
    return { stock, paidEntries: paid.size, owners: await selectOwnerIds(trx, couponId) }
  })
}

/** MySQL's owners into the staging set, in chunks (a script's arguments and Lua's unpack have limits). */
async function stageBuyers(redis: RedisClient, couponId: number, userIds: string[]): Promise<void> {
  const staging = keys.buyersStaging(couponId)
  await redis.del(staging)
  for (let i = 0; i < userIds.length; i += CHUNK) await redis.sadd(staging, ...userIds.slice(i, i + CHUNK))
  if (userIds.length) await redis.pexpire(staging, 60_000)
}
