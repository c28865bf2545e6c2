/**
 * `npm run audit`: checks the invariants against the live MySQL and Redis and names the coupons whose
 * Redis state drifted from MySQL, and by how much. `--repair` repairs those coupons (under their
 * repair lease, as the reconciler would) and checks again. `--live`: traffic is still running. Exit 1
 * on a failure.
 */
import { closeDb, db } from '../db'
import { closeRedis, redis } from '../redis/client'
import { auditInvariants, describeDrift, findDrift } from '../domain/audit'
import { repairCoupon } from '../domain/stock/repair'

const quiet = !process.argv.includes('--live')
const repair = process.argv.includes('--repair')

let drift = await findDrift(db(), redis())
if (drift.length) {
  console.log(`DRIFT ${drift.length} coupon(s) out of balance with MySQL:`)
  for (const c of drift) console.log(`      ${describeDrift(c)}`)
}
if (repair && drift.length) {
  for (const c of drift) {
    const result = await repairCoupon(db(), redis(), c.couponId)
    console.log(`REPAIR #${c.couponId}: ${result.status}${result.status === 'repaired' ? ` (stock ${result.stock}, ${result.buyers} buyers, ${result.attempts} attempt(s))` : ''}`)
  }
  drift = await findDrift(db(), redis())
  if (drift.length) for (const c of drift) console.log(`STILL ${describeDrift(c)}`)
}
const checks = await auditInvariants(db(), redis(), { quiet })
for (const c of checks) console.log(`${c.ok ? 'PASS' : 'FAIL'}  ${c.name}\n      ${c.detail}`)
await closeRedis()
await closeDb()
process.exit(checks.every((c) => c.ok) && (!quiet || !drift.length) ? 0 : 1)
