import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { DB } from '../../server/db'
import { startWeb, type Proc } from '../support/processes'
import { insertCoupons, openDb, renameCoupon, sleep, stackEnv, startPageQueryLog } from './support'
import { procedureUrl } from '../support/api'

// Two built web instances (`.output/server`) share MariaDB and Redis; this process plays a third
// instance where the admin edit happens (it calls invalidateCoupon itself).
const LEASE = 1_500
Object.assign(process.env, stackEnv())
const catalogue = await import('../../server/domain/coupons/catalogue')
const { redis, closeRedis } = await import('../../server/redis/client')
const { keys } = await import('../../server/redis/keys')
const { closeDb } = await import('../../server/db')

const webEnv = () => ({
  ...stackEnv(),
  SESSION_PASSWORD: process.env.SESSION_PASSWORD || 'catalogue-test-session-password-0123456789',
  CATALOGUE_LOCK_LEASE_MS: String(LEASE),
  // a rebuild slower than its lease (the table held locked) but within the query and request deadlines
  DATABASE_QUERY_TIMEOUT_MS: '10000',
  REQUEST_DEADLINE_MS: '10000',
})

let db: DB
let a: Proc
let b: Proc

interface Answer { status: number, ms: number, page?: { items: { id: number, name: string }[], total: number }, reason?: string }

async function list(web: Proc, page: number, pageSize: number): Promise<Answer> {
  const started = Date.now()
  const res = await fetch(procedureUrl(web.url, 'coupon.list', { page, pageSize }))
  const body = await res.json() as { result?: { data: Answer['page'] }, error?: { data?: { reason?: string } } }
  return { status: res.status, ms: Date.now() - started, page: body.result?.data, reason: body.error?.data?.reason }
}

async function getCoupon(web: Proc, id: number) {
  const res = await fetch(procedureUrl(web.url, 'coupon.get', { id }))
  return (await res.json() as { result: { data: { name: string } } }).result.data
}

/** Holds `LOCK TABLES coupons WRITE` on one connection, so any rebuild's SELECT blocks until released. */
async function lockCouponsTable() {
  let release!: () => void
  let locked!: () => void
  const isLocked = new Promise<void>((resolve) => { locked = resolve })
  const done = db.connection().execute(async (conn) => {
    await sql`LOCK TABLES coupons WRITE`.execute(conn)
    locked()
    await new Promise<void>((resolve) => { release = resolve })
    await sql`UNLOCK TABLES`.execute(conn)
  })
  await isLocked
  return async () => { release(); await done }
}

async function waitFor<T>(probe: () => Promise<T | undefined | null | false>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (value) return value
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`)
    await sleep(20)
  }
}

const lockKey = (page: number, pageSize: number) => keys.lock(keys.pageRebuildLock(page, pageSize))

beforeAll(async () => {
  db = await openDb()
  await insertCoupons(db, 25, 'breakdown')
  await catalogue.invalidateCoupon()
  ;[a, b] = await Promise.all([startWeb(webEnv()), startWeb(webEnv())])
})

afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()])
  await catalogue.invalidateCoupon()
  await db?.destroy()
  await closeDb()
  await closeRedis()
})

describe('catalogue cache across web instances', () => {
  it('answers 1,000 concurrent requests for a cold page on two instances with one MySQL query, each with the page or TRY_AGAIN_LATER', async () => {
    await catalogue.invalidateCoupon()
    const log = await startPageQueryLog(db)
    // A slow MySQL (the table is locked for a moment) makes sure both instances miss L2 at the same time.
    const unlock = await lockCouponsTable()
    try {
      const pending = Promise.all(Array.from({ length: 1_000 }, (_, i) => list(i % 2 ? a : b, 2, 7)))
      await sleep(500)
      await unlock()
      const answers = await pending
      const served = answers.filter((x) => x.status === 200)
      const refused = answers.filter((x) => x.status !== 200)
      for (const x of served) {
        expect(x.page!.items).toHaveLength(7)
        expect(x.page!.total).toBeGreaterThanOrEqual(25)
      }
      for (const x of refused) expect({ status: x.status, reason: x.reason }).toEqual({ status: 503, reason: 'TRY_AGAIN_LATER' })
      // Single-flight: every caller on the instance that won the lock shares its one rebuild.
      const servedBy = (web: Proc) => answers.filter((x, i) => (i % 2 ? a : b) === web && x.status === 200).length
      expect(Math.max(servedBy(a), servedBy(b))).toBe(500)
      expect(await log.count(2, 7)).toBe(1)
    } finally {
      await unlock()
      await log.stop()
    }
  })

  it('keeps a slow rebuild\'s lock past its lease (watchdog), so no other instance rebuilds meanwhile', async () => {
    await catalogue.invalidateCoupon()
    const log = await startPageQueryLog(db)
    const unlock = await lockCouponsTable()
    let slow: Promise<Answer> | undefined
    try {
      slow = list(a, 1, 9)
      await waitFor(() => redis().get(lockKey(1, 9)), 5_000)
      await sleep(LEASE * 2.5)
      expect(await redis().get(lockKey(1, 9))).not.toBeNull()
      const loser = await list(b, 1, 9)
      expect({ status: loser.status, reason: loser.reason }).toEqual({ status: 503, reason: 'TRY_AGAIN_LATER' })
      expect(loser.ms).toBeLessThan(LEASE)
    } finally {
      await unlock()
    }
    const holder = await slow
    expect(holder.status).toBe(200)
    expect(holder.page!.items).toHaveLength(9)
    expect(await log.count(1, 9)).toBe(1)
    await waitFor(async () => (await redis().exists(lockKey(1, 9))) === 0, 2_000) // released at the end
    await log.stop()
  })

  it('lets another instance rebuild within one lease after the lock holder dies mid-rebuild', async () => {
    await catalogue.invalidateCoupon()
    const unlock = await lockCouponsTable()
    let acquiredAt: number
    try {
      void list(a, 1, 11).catch(() => undefined)
      await waitFor(() => redis().get(lockKey(1, 11)), 5_000)
      acquiredAt = Date.now()
      await a.stop('SIGKILL')
    } finally {
      await unlock()
    }
    const early = await list(b, 1, 11)
    expect(early.reason).toBe('TRY_AGAIN_LATER')
    const answer = await waitFor(async () => {
      const x = await list(b, 1, 11)
      return x.status === 200 && x
    }, LEASE * 3)
    expect(answer.page!.items).toHaveLength(11)
    expect(Date.now() - acquiredAt).toBeLessThan(LEASE + 700)
    a = await startWeb(webEnv())
  })

  it('shows an admin edit on every instance at once: L2 is deleted and each L1 dropped through pub/sub', async () => {
    await catalogue.invalidateCoupon()
    const first = (await list(a, 1, 10)).page!.items[0]!
    expect((await list(b, 1, 10)).page!.items[0]!.name).toBe(first.name)
    expect((await getCoupon(a, first.id)).name).toBe(first.name)
    expect((await getCoupon(b, first.id)).name).toBe(first.name)
    const renamed = `${first.name} (edited)`
    await renameCoupon(db, first.id, renamed)
    try {
      // Without the invalidation, both instances keep answering from their caches.
      expect((await list(a, 1, 10)).page!.items[0]!.name).toBe(first.name)
      expect((await list(b, 1, 10)).page!.items[0]!.name).toBe(first.name)

      await catalogue.invalidateCoupon(first.id)
      for (const web of [a, b]) {
        await waitFor(async () => (await list(web, 1, 10)).page?.items[0]?.name === renamed, 1_000)
        expect((await getCoupon(web, first.id)).name).toBe(renamed)
      }
    } finally {
      await renameCoupon(db, first.id, first.name)
      await catalogue.invalidateCoupon(first.id)
    }
  })

  it('drops every L1 copy when the invalidation subscriber reconnects (messages may have been lost)', async () => {
    await catalogue.invalidateCoupon()
    // The page is in a's L1: read again with L2 gone, it comes back without a rebuild writing L2. (A
    // read that raced the invalidation's own message to a is not kept in L1, by design: read again.)
    const first = await waitFor(async () => {
      const page = (await list(a, 1, 12)).page
      await redis().unlink(keys.pageCache(1, 12))
      await list(a, 1, 12)
      return (await redis().exists(keys.pageCache(1, 12))) === 0 && page?.items[0]
    }, 3_000)
    const renamed = `${first.name} (edited while away)`
    await renameCoupon(db, first.id, renamed)
    try {
      await redis().unlink(keys.pageCache(1, 12)) // as an invalidation whose message never arrived
      expect((await list(a, 1, 12)).page!.items[0]!.name).toBe(first.name)
      await redis().call('CLIENT', 'KILL', 'TYPE', 'pubsub')
      await waitFor(async () => (await list(a, 1, 12)).page?.items[0]?.name === renamed, 3_000)
    } finally {
      await renameCoupon(db, first.id, first.name)
      await catalogue.invalidateCoupon(first.id)
    }
  })
})
