import { sql } from 'kysely'
import type { DB } from '../db'
import type { RedisClient } from '../redis/client'
import { keys } from '../redis/keys'
import { parseReservation } from '../redis/scripts'
import { checkCoupons, inBalance, type CouponCheck } from './stock/repair'

export interface Check {
  name: string
  ok: boolean
  detail: string
}

/**
 * Checks the invariants (docs/architecture.md, "Invariants") against the live MySQL and Redis. `quiet` means traffic has
 * stopped, so Redis stock + pending + paid must add up exactly and nothing may still be pending.
 */
export async function auditInvariants(db: DB, redis: RedisClient, options: { quiet?: boolean, pendingWindowMs?: number } = {}): Promise<Check[]> {
  const quiet = options.quiet ?? true
  const window = options.pendingWindowMs ?? 60_000
  const checks: Check[] = []

  const coupons = await db.selectFrom('coupons').select(['id', 'total_stock', 'stock']).execute()
  const paidRows = await db.selectFrom('orders').select(['coupon_id', (eb) => eb.fn.countAll<number>().as('n')]).where('status', '=', 'PAID').groupBy('coupon_id').execute()
  const paid = new Map(paidRows.map((r) => [Number(r.coupon_id), Number(r.n)]))
  const badStock: string[] = []
  const badRedis: string[] = []
  const badBuyers: string[] = []
  let pendingTotal = 0
  let stalePending = 0
  const [seconds, micros] = await redis.time() // entries are stamped on Redis' clock
  const now = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000)
  for (const c of coupons) {
    const id = Number(c.id)
    const paidCount = paid.get(id) ?? 0
    if (Number(c.total_stock) !== Number(c.stock) + paidCount) badStock.push(`#${id}: total ${c.total_stock} ≠ stock ${c.stock} + paid ${paidCount}`)
    const [live, pendingRaw, buyers] = await Promise.all([redis.get(keys.stock(id)), redis.hgetall(keys.pending(id)), redis.smembers(keys.buyers(id))])
    const pending = Object.values(pendingRaw).map((raw) => parseReservation(raw) ?? { userId: -1, at: 0 })
    pendingTotal += pending.length
    stalePending += pending.filter((p) => now - p.at > window).length
    if (live !== null && quiet && Number(live) + pending.length + paidCount !== Number(c.total_stock)) {
      const off = Number(live) + pending.length + paidCount - Number(c.total_stock)
      badRedis.push(`#${id}: redis ${live} + pending ${pending.length} + paid ${paidCount} ≠ total ${c.total_stock} (${off > 0 ? '+' : ''}${off})`)
    }
    if (live !== null && Number(live) < 0) badRedis.push(`#${id}: negative redis stock ${live}`)
    if (live !== null && quiet) {
      const owners = await db.selectFrom('user_coupons').select('user_id').where('coupon_id', '=', id).execute()
      const expected = new Set([...owners.map((o) => String(o.user_id)), ...pending.map((p) => String(p.userId))])
      const actual = new Set(buyers)
      const missing = [...expected].filter((u) => !actual.has(u)).length
      const extra = [...actual].filter((u) => !expected.has(u)).length
      if (missing || extra) badBuyers.push(`#${id}: buyers set ${actual.size} ≠ owners+pending ${expected.size} (${extra} extra, ${missing} missing)`)
    }
  }
  checks.push({ name: '1. never oversold: total = MySQL stock + paid', ok: !badStock.length, detail: badStock.length ? badStock.slice(0, 5).join('; ') : `${coupons.length} coupons, ${[...paid.values()].reduce((a, b) => a + b, 0)} paid` })
  checks.push({ name: '1. Redis stock + pending + paid = total', ok: !badRedis.length, detail: badRedis.length ? badRedis.slice(0, 5).join('; ') : `${pendingTotal} pending` })

  const dupes = await db.selectFrom('user_coupons').select(['user_id', 'coupon_id', (eb) => eb.fn.countAll<number>().as('n')]).groupBy(['user_id', 'coupon_id']).having((eb) => eb.fn.countAll(), '>', 1).execute()
  checks.push({ name: '2. one coupon per user (MySQL and Redis agree)', ok: !dupes.length && !badBuyers.length, detail: [dupes.length ? `${dupes.length} duplicate holdings` : 'no duplicate holdings', ...badBuyers.slice(0, 5)].join('; ') })

  const credit = await sql<{ id: number, credit: number, ledger: number | null }>`
    SELECT u.id, u.credit, (SELECT SUM(l.amount) FROM credit_ledger l WHERE l.user_id = u.id) AS ledger
    FROM users u HAVING ledger IS NULL OR u.credit <> ledger`.execute(db)
  const { paidOrders, purchaseRows, matched } = (await sql<{ paidOrders: number, purchaseRows: number, matched: number }>`
    SELECT (SELECT COUNT(*) FROM orders WHERE status = 'PAID') AS paidOrders,
           (SELECT COUNT(*) FROM credit_ledger WHERE kind = 'PURCHASE') AS purchaseRows,
           (SELECT COUNT(*) FROM orders o JOIN credit_ledger l ON l.order_id = o.id AND l.kind = 'PURCHASE' AND l.amount = -o.price WHERE o.status = 'PAID') AS matched`.execute(db)).rows[0]!
  const creditOk = !credit.rows.length && Number(paidOrders) === Number(purchaseRows) && Number(matched) === Number(paidOrders)
  checks.push({ name: '3. credit conserved (credit = Σ ledger; one PURCHASE row per PAID order)', ok: creditOk, detail: `${credit.rows.length} users off; ${paidOrders} paid orders, ${purchaseRows} purchase rows, ${matched} matching` })

  const pendingInDb = await db.selectFrom('orders').select((eb) => eb.fn.countAll<number>().as('n')).where('status', '=', 'PENDING').executeTakeFirstOrThrow()
  const stuck = stalePending + Number(pendingInDb.n)
  checks.push({ name: '4. nothing stuck pending', ok: quiet ? stuck === 0 && pendingTotal === 0 : stuck === 0, detail: `${pendingTotal} pending now, ${stalePending} older than ${window / 1000}s` })

  const { holdings } = (await sql<{ holdings: number }>`SELECT COUNT(*) AS holdings FROM user_coupons uc JOIN orders o ON o.id = uc.order_id AND o.status = 'PAID'`.execute(db)).rows[0]!
  const { allHoldings } = (await sql<{ allHoldings: number }>`SELECT COUNT(*) AS allHoldings FROM user_coupons`.execute(db)).rows[0]!
  const once = Number(holdings) === Number(paidOrders) && Number(allHoldings) === Number(paidOrders)
  checks.push({ name: '5. each order settled exactly once', ok: once, detail: `${paidOrders} paid orders, ${allHoldings} holdings (${holdings} matching a paid order)` })
  checks.push(await admittedBuyers(db))
  return checks
}

/** Clock difference allowed between the ticker that recorded an admission and the web that took the order. */
const ADMISSION_CLOCK_SLACK_SECONDS = 2

/**
 * 6. Nobody bought without an admission: on a coupon whose waiting room is on, every PAID order made
 * since the room was switched on has an admission recorded for its buyer before it was made.
 */
async function admittedBuyers(db: DB): Promise<Check> {
  const { gated, unadmitted } = (await sql<{ gated: number, unadmitted: number }>`
    SELECT COUNT(*) AS gated,
           COALESCE(SUM(NOT EXISTS (
             SELECT 1 FROM queue_entries q
             WHERE q.coupon_id = o.coupon_id AND q.user_id = o.user_id AND q.admitted_at IS NOT NULL
               AND q.admitted_at <= o.created_at + INTERVAL ${ADMISSION_CLOCK_SLACK_SECONDS} SECOND)), 0) AS unadmitted
    FROM orders o JOIN coupons c ON c.id = o.coupon_id
    WHERE o.status = 'PAID' AND c.waiting_room_enabled AND o.created_at >= c.waiting_room_enabled_at`.execute(db)).rows[0]!
  return { name: '6. no paid order without an admission (waiting rooms)', ok: Number(unadmitted) === 0, detail: `${gated} paid orders behind a waiting room, ${unadmitted} without an admission` }
}

/**
 * Coupons whose Redis state is out of balance with MySQL (the repair's equations), with how far:
 * what `npm run audit` names and `npm run audit -- --repair` repairs. A coupon Redis does not hold
 * (never loaded, or lost) is the reconciler's to load behind its barrier, not drift.
 */
export async function findDrift(db: DB, redis: RedisClient): Promise<CouponCheck[]> {
  const ids = (await db.selectFrom('coupons').select('id').execute()).map((r) => Number(r.id))
  const checks = await checkCoupons(db, redis, ids)
  return checks.filter((c) => c.loaded && !inBalance(c))
}

export function describeDrift(c: CouponCheck): string {
  const signed = (n: number) => (n > 0 ? `+${n}` : String(n))
  return `#${c.couponId}: stock ${signed(c.stockDrift)} (Redis ${c.redisStock} + ${c.entries} pending vs MySQL ${c.mysqlStock} + ${c.paidEntries} paid pending), ` +
    `buyers ${signed(c.buyersDrift)} (${c.buyers} in Redis vs ${c.owners} owners + ${c.entries - c.paidEntries} unpaid pending)`
}
