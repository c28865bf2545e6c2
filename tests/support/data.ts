import { randomUUID } from 'node:crypto'
import { sql } from 'kysely'
import { db } from '../../server/db'
import { redis } from '../../server/redis/client'
import { keys } from '../../server/redis/keys'
import { repairCoupon } from '../../server/domain/stock/repair'

/** A coupon on sale now, written to MySQL and loaded into Redis the way the product loads one. */
export async function createCouponOnSale(options: { stock: number, price?: number, name?: string, loadStock?: boolean }): Promise<number> {
  const result = await db().insertInto('coupons').values({
    name: options.name ?? `Test coupon ${randomUUID().slice(0, 8)}`,
    description: 'made by a test',
    image_url: null,
    price: options.price ?? 100,
    total_stock: options.stock,
    stock: options.stock,
    sale_starts_at: new Date(Date.now() - 60_000),
    sale_ends_at: new Date(Date.now() + 3_600_000),
  }).executeTakeFirstOrThrow()
  const id = Number(result.insertId)
  if (options.loadStock ?? true) {
    const loaded = await repairCoupon(db(), redis(), id)
    if (loaded.status !== 'repaired') throw new Error(`coupon ${id} not loaded: ${loaded.status}`)
  }
  return id
}

/** Users made straight in MySQL (with their STARTING ledger row, so credit stays conserved). */
export async function createUsers(count: number, credit = 10_000): Promise<number[]> {
  const ids: number[] = []
  for (let i = 0; i < count; i++) {
    const sub = `test-${randomUUID()}`
    const result = await db().insertInto('users').values({ sub, email: `${sub}@example.test`, credit }).executeTakeFirstOrThrow()
    const id = Number(result.insertId)
    await db().insertInto('credit_ledger').values({ user_id: id, amount: credit, kind: 'STARTING', order_id: null }).execute()
    ids.push(id)
  }
  return ids
}

export async function creditOf(userId: number): Promise<number> {
  const row = await db().selectFrom('users').select('credit').where('id', '=', userId).executeTakeFirstOrThrow()
  return Number(row.credit)
}

export async function couponState(couponId: number) {
  const [row, live, pending, buyers, paid] = await Promise.all([
    db().selectFrom('coupons').select(['stock', 'total_stock']).where('id', '=', couponId).executeTakeFirstOrThrow(),
    redis().get(keys.stock(couponId)),
    redis().hlen(keys.pending(couponId)),
    redis().scard(keys.buyers(couponId)),
    db()
      .selectFrom('orders')
      .select(sql<number>`COUNT(*)`.as('n'))
      .where('coupon_id', '=', couponId)
      .where('status', '=', 'PAID')
      .executeTakeFirstOrThrow(),
  ])
  return {
    mysqlStock: Number(row.stock),
    totalStock: Number(row.total_stock),
    redisStock: live === null ? null : Number(live),
    pending,
    buyers,
    paid: Number(paid.n),
  }
}

/** Polls until check() is truthy or the time is up; returns the last value. */
export async function eventually<T>(check: () => Promise<T>, timeoutMs = 30_000, everyMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: T = await check()
  while (!last && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, everyMs))
    last = await check()
  }
  return last
}

/**
 * Each coupon carries its own marker now (createCouponOnSale loads it), so there is no global state to
 * prepare; kept so that suites calling it need no change.
 */
export async function ensureStockLoaded(): Promise<void> {}
