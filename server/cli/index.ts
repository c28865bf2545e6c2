/**
 * The operator CLI: `npx flash-sale <command>` (bin/flash-sale.mjs → .output/worker/cli.mjs), also the
 * home of the one-shot commands (`npm run migrate`, `npm run audit`, the image's `migrate`). It reads
 * the same environment as the web and the worker (server/config.ts); `--env <file>` loads a file of
 * KEY=value lines first, e.g. `.stack/dev/env` for the `npm start` stack. Progress goes to stderr, the
 * result to stdout (`--json`: one JSON document). Exit 0 done, 1 failed (an invariant, a drain that
 * did not complete), 2 a usage error.
 */
import { parseArgs } from 'node:util'
import { closeDb, db } from '../db'
import { logToStderr } from '../observability/log'
import { closeRedis, redis } from '../redis/client'
import { audit, repair } from './audit'
import { couponLoad, couponStats } from './coupon'
import { creditGrant } from './credit'
import { dlqList, dlqReplay, dlqShow } from './dlq'
import { migrate } from './migrate'
import { createOutput, UsageError } from './output'
import { seed } from './seed'
import { workerDrain, workerResume } from './worker'

export const USAGE = `flash-sale <command> [--json] [--env <file>]

  migrate                        apply the database migrations not yet applied (before a rollout)
  seed                           demo coupons for a fresh stack (nothing when coupons exist)
  dlq list                       dead letters of payment-requests.dlq, with their order's MySQL status
  dlq show <partition>:<offset>  one dead letter in full (headers, event)
  dlq replay [--dry-run]         re-publish the dead letters whose order has no MySQL row; others are skipped
  audit [--live] [--repair]      check the invariants; name (and with --repair, repair) coupons that drifted
  repair <couponId>              repair one coupon's Redis state from MySQL, under its repair lease
  credit grant <email> <amount>  add credit (cents) to an account, with its ledger row
  coupon load [<couponId>]       load coupons Redis does not hold (all on sale, or one), behind the Kafka barrier
  coupon stats <couponId>        stock, pending, paid, failed and the last minute's orders of a coupon
  worker drain [--timeout <s>]   every payment worker commits its batch in hand and pauses (stays in the group)
  worker resume                  the drained workers carry on`

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      'json': { type: 'boolean', default: false },
      'env': { type: 'string' },
      'live': { type: 'boolean', default: false },
      'repair': { type: 'boolean', default: false },
      'dry-run': { type: 'boolean', default: false },
      'timeout': { type: 'string', default: '60' },
      'help': { type: 'boolean', short: 'h', default: false },
    },
  })
  if (values.help || !positionals.length) {
    console.log(USAGE)
    return values.help ? 0 : 2
  }
  if (values.env) process.loadEnvFile(values.env)
  // One-shot commands read whole tables (the audit's sums): unless set, a longer query deadline than a request's.
  process.env.DATABASE_QUERY_TIMEOUT_MS ??= '60000'
  const out = createOutput(values.json)
  const timeoutMs = Number(values.timeout) * 1000
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new UsageError('--timeout is a number of seconds')

  const commands: Record<string, (args: string[]) => Promise<unknown>> = {
    'migrate': () => migrate(out),
    'seed': () => seed(db(), out),
    'dlq list': () => dlqList(db(), out),
    'dlq show': ([where]) => dlqShow(db(), out, where),
    'dlq replay': () => dlqReplay(db(), out, { dryRun: values['dry-run'] }),
    'audit': () => audit(db(), redis(), out, { live: values.live, repair: values.repair }),
    'repair': ([id]) => repair(db(), redis(), out, id),
    'credit grant': ([email, amount]) => creditGrant(db(), out, email, amount),
    'coupon load': ([id]) => couponLoad(db(), redis(), out, id, timeoutMs),
    'coupon stats': ([id]) => couponStats(out, id),
    'worker drain': () => workerDrain(redis(), out, timeoutMs),
    'worker resume': () => workerResume(redis(), out),
  }
  const name = [positionals.slice(0, 2).join(' '), positionals[0]!].find((n) => n in commands)
  if (!name) throw new UsageError(`unknown command: ${positionals.join(' ')}\n\n${USAGE}`)
  const ok = await commands[name]!(positionals.slice(name.split(' ').length))
  return ok === false ? 1 : 0
}

logToStderr() // stdout carries the command's result (--json)
let code: number
try {
  code = await main(process.argv.slice(2))
} catch (error) {
  const errorCode = (error as { code?: unknown }).code
  const badArgs = typeof errorCode === 'string' && errorCode.startsWith('ERR_PARSE_ARGS')
  const usage = error instanceof UsageError || badArgs
  const config = (error as Error).name === 'ConfigError' || (error as Error).constructor?.name === 'ConfigError'
  console.error(`✗ ${badArgs ? `usage: ${(error as Error).message}` : (error as Error).message}`)
  code = usage || config ? 2 : 1
}
await Promise.allSettled([closeRedis(), closeDb()])
process.exit(code)
