import type { DB } from '../../db'
import type { RedisClient } from '../../redis/client'
import { keys } from '../../redis/keys'
import { parseReservation } from '../../redis/scripts'
import { selectAllCouponIds, selectAllStocks, selectOwnerIds } from '../coupons/repository'
import { countPaidByCoupon, countPendingOrders } from '../orders/repository'
import { checkCoupons, inBalance, type CouponCheck } from '../stock/repair'
import { countHoldings, countPurchases, countUnadmittedPurchases, selectDuplicateHoldings, selectUsersOffLedger } from './repository'

export interface Check {
  name: string
  ok: boolean
  detail: string
}

/**
 * Checks the invariants (docs/architecture.md, "Invariants") against the live MySQL and Redis. `trafficStopped`: no
 * purchase is in flight, so Redis stock + pending + paid must add up exactly and nothing may still be pending.
 */
export async function auditInvariants(
  db: DB,
  redis: RedisClient,
  options: { trafficStopped?: boolean, pendingWindowMs?: number } = {},
): Promise<Check[]> {
  const trafficStopped = options.trafficStopped ?? true
  const window = options.pendingWindowMs ?? 60_000
  const checks: Check[] = []

  const coupons = await selectAllStocks(db)
  const paid = await countPaidByCoupon(db)
  const badStock: string[] = []
  const badRedis: string[] = []
  const badBuyers: string[] = []
  let pendingTotal = 0
  let stalePending = 0
  const [seconds, micros] = await redis.time() // entries are stamped on Redis' clock
  const now = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000)
  for (const c of coupons) {
    const id = c.id
    const paidCount = paid.get(id) ?? 0
    if (c.totalStock !== c.stock + paidCount) badStock.push(`#${id}: total ${c.totalStock} ≠ stock ${c.stock} + paid ${paidCount}`)
    const [live, pendingRaw, buyers] = await Promise.all([
      redis.get(keys.stock(id)),
      redis.hgetall(keys.pending(id)),
      redis.smembers(keys.buyers(id)),
    ])
    const pending = Object.values(pendingRaw).map((raw) => parseReservation(raw) ?? { userId: -1, at: 0 })
    pendingTotal += pending.length
    stalePending += pending.filter((p) => now - p.at > window).length
    if (live !== null && trafficStopped && Number(live) + pending.length + paidCount !== c.totalStock) {
      const off = Number(live) + pending.length + paidCount - c.totalStock
      badRedis.push(
        `#${id}: redis ${live} + pending ${pending.length} + paid ${paidCount} ≠ total ${c.totalStock} (${off > 0 ? '+' : ''}${off})`,
      )
    }
    if (live !== null && Number(live) < 0) badRedis.push(`#${id}: negative redis stock ${live}`)
    if (live !== null && trafficStopped) {
      const expected = new Set([...(await selectOwnerIds(db, id)), ...pending.map((p) => String(p.userId))])
      const actual = new Set(buyers)
      const missing = [...expected].filter((u) => !actual.has(u)).length
      const extra = [...actual].filter((u) => !expected.has(u)).length
      if (missing || extra) {
        badBuyers.push(`#${id}: buyers set ${actual.size} ≠ owners+pending ${expected.size} (${extra} extra, ${missing} missing)`)
      }
    }
  }
  checks.push({
    name: '1. never oversold: total = MySQL stock + paid',
    ok: !badStock.length,
    detail: badStock.length
      ? badStock.slice(0, 5).join('; ')
      : `${coupons.length} coupons, ${[...paid.values()].reduce((a, b) => a + b, 0)} paid`,
  })
  checks.push({
    name: '1. Redis stock + pending + paid = total',
    ok: !badRedis.length,
    detail: badRedis.length ? badRedis.slice(0, 5).join('; ') : `${pendingTotal} pending`,
  })

  const dupes = await selectDuplicateHoldings(db)
  checks.push({
    name: '2. one coupon per user (MySQL and Redis agree)',
    ok: !dupes.length && !badBuyers.length,
    detail: [dupes.length ? `${dupes.length} duplicate holdings` : 'no duplicate holdings', ...badBuyers.slice(0, 5)].join('; '),
  })

  const usersOff = await selectUsersOffLedger(db)
  const { paidOrders, purchaseRows, matched } = await countPurchases(db)
  const creditOk = !usersOff.length && paidOrders === purchaseRows && matched === paidOrders
  checks.push({
    name: '3. credit conserved (credit = Σ ledger; one PURCHASE row per PAID order)',
    ok: creditOk,
    detail: `${usersOff.length} users off; ${paidOrders} paid orders, ${purchaseRows} purchase rows, ${matched} matching`,
  })

  const stuck = stalePending + (await countPendingOrders(db))
  checks.push({
    name: '4. nothing stuck pending',
    ok: trafficStopped ? stuck === 0 && pendingTotal === 0 : stuck === 0,
    detail: `${pendingTotal} pending now, ${stalePending} older than ${window / 1000}s`,
  })

  const { holdings, ofPaidOrders } = await countHoldings(db)
  const once = ofPaidOrders === paidOrders && holdings === paidOrders
  checks.push({
    name: '5. each order settled exactly once',
    ok: once,
    detail: `${paidOrders} paid orders, ${holdings} holdings (${ofPaidOrders} matching a paid order)`,
  })
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
  const { gated, unadmitted } = await countUnadmittedPurchases(db, ADMISSION_CLOCK_SLACK_SECONDS)
  return { name: '6. no paid order without an admission (waiting rooms)', ok: unadmitted === 0, detail: `${gated} paid orders behind a waiting room, ${unadmitted} without an admission` }
}

/**
 * Coupons whose Redis state is out of balance with MySQL (the repair's equations), with how far:
 * what `npm run audit` names and `npm run audit -- --repair` repairs. A coupon Redis does not hold
 * (never loaded, or lost) is the reconciler's to load behind its barrier, not drift.
 */
export async function findDrift(db: DB, redis: RedisClient): Promise<CouponCheck[]> {
  const checks = await checkCoupons(db, redis, await selectAllCouponIds(db))
  return checks.filter((c) => c.loaded && !inBalance(c))
}

export function describeDrift(c: CouponCheck): string {
  const signed = (n: number) => (n > 0 ? `+${n}` : String(n))
  return `#${c.couponId}: stock ${signed(c.stockDrift)} (Redis ${c.redisStock} + ${c.entries} pending vs MySQL ${c.mysqlStock} + ${c.paidEntries} paid pending), ` +
    `buyers ${signed(c.buyersDrift)} (${c.buyers} in Redis vs ${c.owners} owners + ${c.entries - c.paidEntries} unpaid pending)`
}
