// The wait until a benchmark's orders are settled, shared by every benchmark script. The probe must
// not load what it measures: it polls the coupons' pending reservations in Redis (one HLEN per coupon)
// every 5 ms, and counts MySQL's settled orders only once none is pending. The COUNT every 50 ms it
// replaced took 12 % of MariaDB's statement time while one worker settled a backlog (MariaDB's slow
// log, 2026-12-07), and it timed the end to 50 ms of a settlement that lasts about a second.
import { sleep } from './util.mjs'

/** The coupons' reservations still pending in Redis (a settled order's is removed by its follow-up). */
export async function pendingCount(redis, coupons) {
  return (await Promise.all(coupons.map((c) => redis.hlen(`coupon:{${c}}:pending`)))).reduce((a, b) => a + b, 0)
}

/** The coupons' settled (not PENDING) orders in MySQL. */
export async function settledCount(db, coupons) {
  const [[{ n }]] = await db.query(`SELECT COUNT(*) AS n FROM orders WHERE coupon_id IN (?) AND status <> 'PENDING'`, [coupons])
  return Number(n)
}

/** Until the coupons' first settlement round is committed; how many orders it settled. */
export async function firstCommit(db, coupons) {
  for (;;) {
    const n = await settledCount(db, coupons)
    if (n > 0) return n
    await sleep(5)
  }
}

/**
 * Resolves with the time (`Date.now()`, to 5 ms) at which none of the coupons' reservations was
 * pending and at least `expected` of their orders were settled; `onProgress(pending)` at most every
 * 250 ms. `expected` may be fewer than the orders (the PENDING answers a client counted; the server may
 * have taken a few more just as a run ended).
 */
export async function waitSettled({ db, redis, coupons, expected, timeoutMs = 600_000, onProgress }) {
  const t0 = Date.now()
  let shown = 0
  for (;;) {
    const pending = await pendingCount(redis, coupons)
    const at = Date.now()
    if (pending === 0 && (await settledCount(db, coupons)) >= expected) return at
    if (onProgress && at - shown >= 250) {
      shown = at
      onProgress(pending)
    }
    if (at - t0 > timeoutMs) throw new Error(`not settled after ${timeoutMs / 1000} s: ${pending} reservations pending, ${await settledCount(db, coupons)}/${expected} settled`)
    await sleep(pending === 0 ? 50 : 5)
  }
}
