// What the A/B scripts on a running stack share (bench/pipeline.mjs, bench/settle.mjs): their results'
// directory, MySQL and Redis clients, the shoppers' tokens in a file for wrk, and the rounds run in
// alternating order (a, b, b, a…).
import fs from 'node:fs'
import path from 'node:path'
import mysql from 'mysql2/promise'
import Redis from 'ioredis'
import { ROOT, alternating, loadAverage, say, status } from './util.mjs'
import { shoppers } from './keycloak.mjs'

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
  }
}
