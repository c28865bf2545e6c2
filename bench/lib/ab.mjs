// What the A/B scripts on a running stack share (bench/pipeline.mjs, bench/settle.mjs): the stack
// (without workers of its own), the variants of --a / --b, their results' directory, MySQL and Redis
// clients, the shoppers' tokens in a file for wrk, the wait for the coupons' orders to settle, the
// rounds run in alternating order (a, b, b, a…), the median round, and the report.
import fs from 'node:fs'
import path from 'node:path'
import mysql from 'mysql2/promise'
import Redis from 'ioredis'
import { openStack } from '../../scripts/lib/stack.mjs'
import { ROOT, alternating, loadAverage, say, status } from './util.mjs'
import { shoppers } from './keycloak.mjs'
import { firstCommit, pendingCount, waitSettled } from './settled.mjs'

/** The running stack at `dir`, which must run no payment workers: they would take the benchmark's events. */
export function openAbStack(dir) {
  if (!dir) throw new Error('--stack DIR is required (a running stack without payment workers, e.g. .stack/test)')
  const stack = openStack(path.resolve(dir))
  if (Object.keys(stack.processes()).some((k) => k.startsWith('worker-'))) throw new Error('the stack runs payment workers: they would take the benchmark\'s events')
  return stack
}

/** The variants of `--a` (always) and `--b` (when given), each `{ name, ...parse(words) }`; no words is "as built". */
export function abVariants(args, parse) {
  const variant = (words) => ({ name: words || 'as built', ...parse(words) })
  return [variant(args.a), ...(args.b !== undefined ? [variant(args.b)] : [])]
}

/** A variant's rounds sorted by `by`, and the median one. */
export function medianRound(results, name, by) {
  const mine = results.filter((x) => x.variant === name).sort((a, b) => by(a) - by(b))
  return { mine, med: mine[Math.floor(mine.length / 2)] }
}

/** `kind` names the results' directory: .bench/<kind>-<time>/. */
export async function abSession(stack, kind, userCount) {
  const outDir = path.join(ROOT, '.bench', `${kind}-${new Date().toISOString().replace(/[:.]/g, '-')}`)
  fs.mkdirSync(outDir, { recursive: true })
  const db = mysql.createPool({ uri: stack.env.DATABASE_URL, connectionLimit: 2 })
  const redis = new Redis(stack.env.REDIS_URL)
  const users = await shoppers(stack.env, stack.dir, userCount, (d, n) => status(`  … shoppers ${d}/${n}`))
  const tokenFile = path.join(outDir, 'tokens.txt')
  fs.writeFileSync(tokenFile, users.map((u) => u.token).join('\n') + '\n', { mode: 0o600 })
  return {
    outDir, db, redis, users, tokenFile,
    /** The coupons' reservations still pending in Redis. */
    pending: (coupons) => pendingCount(redis, coupons),
    /** Until the coupons' first settlement round is committed; how many orders it settled. */
    firstCommit: (coupons) => firstCommit(db, coupons),
    /** Until `expected` of the coupons' orders are settled and none is pending (bench/lib/settled.mjs, as `npm run bench` waits). */
    settled: (coupons, expected) => waitSettled({ db, redis, coupons, expected }),
    /** Each variant's rounds, alternating; the clients are closed and the tokens removed at the end. */
    async rounds(variants, count, round) {
      const results = []
      try {
        say(`load average at start: ${loadAverage().join(' ')}`)
        for (const [v, r] of alternating(variants, count)) results.push(await round(v, r))
      } finally {
        await db.end()
        redis.disconnect()
        fs.rmSync(tokenFile, { force: true })
      }
      return results
    },
    /** Writes result.json and summary.md (`lines`) to the results' directory and prints the summary. */
    report(results, lines) {
      fs.writeFileSync(path.join(outDir, 'result.json'), JSON.stringify(results, null, 2))
      fs.writeFileSync(path.join(outDir, 'summary.md'), lines.join('\n'))
      say(lines.join('\n'))
      say(`results: ${path.relative(process.cwd(), outDir)}/`)
    },
  }
}
