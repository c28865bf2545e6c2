import type { DB } from '../db'
import type { RedisClient } from '../redis/client'
import { auditInvariants, describeDrift, findDrift } from '../domain/audit/service'
import { checkCoupon, inBalance, repairCoupon } from '../domain/stock/repair'
import { couponIdArg } from './coupon'
import { UsageError, type Output } from './output'

/**
 * Checks the invariants and names the coupons whose Redis state drifted from MySQL; `--repair`
 * repairs those (under their repair lease, as the reconciler would) and checks again. False (exit 1)
 * when an invariant fails or, traffic having stopped, drift remains.
 */
export async function audit(db: DB, redis: RedisClient, out: Output, options: { live: boolean, repair: boolean }) {
  out.progress('comparing every coupon\'s Redis state with MySQL')
  let drift = await findDrift(db, redis)
  for (const c of drift) out.progress(`drift ${describeDrift(c)}`)
  const repairs: { couponId: number, status: string }[] = []
  if (options.repair && drift.length) {
    for (const c of drift) {
      const result = await repairCoupon(db, redis, c.couponId)
      out.progress(`repair #${c.couponId}: ${result.status}`)
      repairs.push({ couponId: c.couponId, status: result.status })
    }
    drift = await findDrift(db, redis)
  }
  out.progress(`checking the invariants${options.live ? ' (live: traffic may be flowing)' : ''}`)
  const checks = await auditInvariants(db, redis, { trafficStopped: !options.live })
  const ok = checks.every((c) => c.ok) && (options.live || !drift.length)
  out.result(
    {
      ok,
      drift: drift.map((c) => ({ couponId: c.couponId, stockDrift: c.stockDrift, buyersDrift: c.buyersDrift, detail: describeDrift(c) })),
      repairs,
      checks,
    },
    () =>
      [
        ...drift.map((c) => `DRIFT ${describeDrift(c)}`),
        ...repairs.map((r) => `REPAIR #${r.couponId}: ${r.status}`),
        ...checks.map((c) => `${c.ok ? 'PASS' : 'FAIL'}  ${c.name}\n      ${c.detail}`),
      ].join('\n'),
  )
  return ok
}

/** Repairs one coupon now (whether or not it drifted), and shows its balance before and after. */
export async function repair(db: DB, redis: RedisClient, out: Output, id: string | undefined) {
  const couponId = couponIdArg(id, 'flash-sale repair <couponId>')
  const before = await checkCoupon(db, redis, couponId)
  if (!before) throw new UsageError(`no coupon #${couponId}`)
  // Loading a lost coupon must wait for its payment events in flight; `coupon load` does that.
  if (!before.loaded) throw new UsageError(`#${couponId} is not loaded in Redis: use \`flash-sale coupon load ${couponId}\`, which first waits for its payments in flight`)
  out.progress(`#${couponId}: ${inBalance(before) ? 'in balance' : before.loaded ? describeDrift(before) : 'not loaded in Redis'}; repairing under its lease`)
  const result = await repairCoupon(db, redis, couponId)
  const after = await checkCoupon(db, redis, couponId)
  out.result({ couponId, result, before, after }, () => `#${couponId}: ${result.status}${result.status === 'repaired' ? ` — stock ${result.stock}, ${result.buyers} buyers, ${result.attempts} attempt(s)` : ''}; now ${after && inBalance(after) ? 'in balance' : 'still out of balance'}`)
  return result.status === 'repaired'
}
