/** `npm run audit`: checks the invariants of DESIGN.md against the live MySQL and Redis. Exit 1 on a failure. */
import { closeDb, db } from '../db'
import { closeRedis, redis } from '../redis/client'
import { auditInvariants } from '../domain/audit'

const checks = await auditInvariants(db(), redis(), { quiet: !process.argv.includes('--live') })
for (const c of checks) console.log(`${c.ok ? 'PASS' : 'FAIL'}  ${c.name}\n      ${c.detail}`)
await closeRedis()
await closeDb()
process.exit(checks.every((c) => c.ok) ? 0 : 1)
