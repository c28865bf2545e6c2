import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { DB } from '../../server/db'
import { openDb, renameCoupon, sleep, stackEnv } from './support'

// Short TTLs so expiry is observable; set before the app modules read their configuration.
const L1_TTL = 300
const L2_TTL = 1_500
const MISSING_TTL = 600
Object.assign(process.env, stackEnv(), {
  CATALOGUE_L1_TTL_MS: String(L1_TTL),
  CATALOGUE_L2_TTL_MS: String(L2_TTL),
  CATALOGUE_MISSING_TTL_MS: String(MISSING_TTL),
})

const catalogue = await import('../../server/domain/coupons/catalogue')
const { redis, closeRedis } = await import('../../server/redis/client')
const { keys } = await import('../../server/redis/keys')
const { closeDb } = await import('../../server/db')

let db: DB

beforeAll(async () => {
  db = await openDb()
  const { insertCoupons } = await import('./support')
  await insertCoupons(db, 6, 'expiry')
  await catalogue.invalidateCoupon()
})

afterAll(async () => {
  await catalogue.invalidateCoupon()
  await db.destroy()
  await closeDb()
  await closeRedis()
})

describe('catalogue cache expiry', () => {
  it('serves a page from L1, then from L2 after the L1 TTL, then from MySQL after the L2 TTL', async () => {
    const first = (await catalogue.listCoupons(1, 5)).items[0]!
    const pttl = await redis().pttl(keys.pageCache(1, 5))
    expect(pttl).toBeGreaterThan(L2_TTL - 200)
    expect(pttl).toBeLessThanOrEqual(L2_TTL * 1.1)

    await renameCoupon(db, first.id, `${first.name} (renamed)`)
    try {
      expect((await catalogue.listCoupons(1, 5)).items[0]!.name).toBe(first.name) // L1
      catalogue.forgetCoupons() // L1 gone: the copy can only come from L2 now
      expect((await catalogue.listCoupons(1, 5)).items[0]!.name).toBe(first.name)
      await sleep(L1_TTL + 100)
      expect((await catalogue.listCoupons(1, 5)).items[0]!.name).toBe(first.name) // L1 expired, L2 alive
      await sleep(L2_TTL * 1.1 + 100)
      expect((await catalogue.listCoupons(1, 5)).items[0]!.name).toBe(`${first.name} (renamed)`)
    } finally {
      await renameCoupon(db, first.id, first.name)
    }
  })

  it('expires a cached coupon from L1 and L2', async () => {
    const page = await catalogue.listCoupons(1, 5)
    const id = page.items[1]!.id
    const before = (await catalogue.getCoupon(id)).name
    expect(await redis().pttl(keys.couponCache(id))).toBeGreaterThan(0)
    await renameCoupon(db, id, `${before} (renamed)`)
    try {
      expect((await catalogue.getCoupon(id)).name).toBe(before)
      await sleep(L2_TTL * 1.1 + 100)
      expect((await catalogue.getCoupon(id)).name).toBe(`${before} (renamed)`)
    } finally {
      await renameCoupon(db, id, before)
    }
  })

  it('remembers an unknown coupon id as missing, in L1 and L2, for a short time', async () => {
    const { max } = await db.selectFrom('coupons').select((eb) => eb.fn.max('id').as('max')).executeTakeFirstOrThrow()
    const id = Number(max) + 1_000
    await expect(catalogue.getCoupon(id)).rejects.toMatchObject({ reason: 'NOT_FOUND' })
    expect(await redis().get(keys.couponCache(id))).toBe('missing')
    expect(await redis().pttl(keys.couponCache(id))).toBeLessThanOrEqual(MISSING_TTL)

    // The coupon appears in MySQL behind the cache's back: the "missing" answer holds until it expires.
    await db.insertInto('coupons').values({
      id, name: 'late arrival', description: '', image_url: null, price: 1, total_stock: 1, stock: 1,
      sale_starts_at: null, sale_ends_at: null,
    } as never).execute()
    try {
      expect(await catalogue.findCoupon(id)).toBeNull() // L1
      catalogue.forgetCoupons(id)
      expect(await catalogue.findCoupon(id)).toBeNull() // L2
      await sleep(MISSING_TTL + 100)
      expect((await catalogue.findCoupon(id))?.name).toBe('late arrival')
    } finally {
      await db.deleteFrom('coupons').where('id', '=', id).execute()
    }
  })
})
