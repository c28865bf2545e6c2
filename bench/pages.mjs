#!/usr/bin/env node
// Page scenarios (issue 17): the fast-lane ping, then the catalogue and a coupon page, anonymous and
// signed in (the shared render plus its one user.viewer call), cold (every request a full render) and
// warm (the shared cache), all against ONE web instance in one run, so the ratios compare like with like.
//
//   npm run build && node scripts/stack.mjs up test
//   node bench/pages.mjs --stack .stack/test [--duration 6] [--connections 50] [--users 50]
//
// Cold runs send `Range: bytes=0-`, which Nitro's cache passes straight to the renderer (the same page,
// rendered per request, as before the cache). Results: printed, and .bench/pages-<stamp>/result.json.
import fs from 'node:fs'
import path from 'node:path'
import { parseArgs } from 'node:util'
import mysql from 'mysql2/promise'
import Redis from 'ioredis'
import { openStack } from '../scripts/lib/stack.mjs'
import { BENCH_DIR, ROOT, loadAverage, runWrk, say } from './lib/util.mjs'
import { createBenchCoupon } from './lib/coupons.mjs'
import { shoppers } from './lib/keycloak.mjs'

const { values: args } = parseArgs({
  options: {
    stack: { type: 'string', default: '.stack/test' },
    duration: { type: 'string', default: '6' },
    connections: { type: 'string', default: '50' },
    users: { type: 'string', default: '50' },
  },
})
const DURATION = Number(args.duration)
const CONNECTIONS = Number(args.connections)
const stackDir = path.resolve(args.stack)
const stack = openStack(stackDir)
const env = { ...stack.env }
const stamp = new Date().toISOString().replace(/[:.]/g, '-')
const out = path.join(ROOT, '.bench', `pages-${stamp}`)
fs.mkdirSync(out, { recursive: true })

const db = await mysql.createConnection(env.DATABASE_URL)
const redis = new Redis(env.REDIS_URL)
const couponId = await createBenchCoupon(db, redis, {
  name: `Bench page ${stamp}`,
  description: 'made by bench/pages.mjs',
  price: 700,
  stock: 1000,
})

say(`shoppers: ${args.users} (tokens)`)
const users = await shoppers(env, stackDir, Number(args.users))
const tokenFile = path.join(out, 'tokens.txt')
fs.writeFileSync(tokenFile, users.map((u) => u.token).join('\n'))

const web = await stack.startWeb({ env: { PURCHASE_RATE_LIMIT: '1000000' } })
const script = path.join(BENCH_DIR, 'lua', 'pages.lua')
const coupon = `/coupons/${couponId}`
const viewer = `/api/trpc/user.viewer?batch=1&input=${encodeURIComponent(JSON.stringify({ 0: { couponId } }))}`
const scenarios = [
  { name: 'tRPC ping (fast lane)', paths: ['/api/trpc/system.ping'] },
  { name: 'catalogue `/`, anonymous, cold (full render)', paths: ['/'], header: 'Range: bytes=0-' },
  { name: 'catalogue `/`, anonymous, warm (shared render)', paths: ['/'] },
  { name: 'coupon page, anonymous, cold (full render)', paths: [coupon], header: 'Range: bytes=0-' },
  { name: 'coupon page, anonymous, warm (shared render)', paths: [coupon] },
  { name: 'coupon page, signed in, cold: full render + user.viewer', paths: [coupon, viewer], tokens: true, header: 'Range: bytes=0-', perView: 2 },
  { name: 'coupon page, signed in, warm: shared render + user.viewer', paths: [coupon, viewer], tokens: true, perView: 2 },
  { name: 'user.viewer alone (signed in)', paths: [viewer], tokens: true },
]

const load = loadAverage()
say(`load average before: ${load}`)
const results = []
// Warm the shared renders and the catalogue caches first.
for (const p of ['/', coupon]) await fetch(`${web.url}${p}`)
for (const s of scenarios) {
  const r = await runWrk({
    url: web.url, duration: DURATION, connections: CONNECTIONS, serverPid: web.pid, label: s.name, script,
    scriptArgs: [s.paths.join('|'), s.tokens ? tokenFile : '-', s.header ?? '-'],
  })
  const views = r.rps / (s.perView ?? 1)
  results.push({ ...s, ...r, views })
  say(`  ${s.name}: ${Math.round(views).toLocaleString('en-US')} ${s.perView ? 'views' : 'req'}/s  p50 ${r.p50.toFixed(2)} ms  p99 ${r.p99.toFixed(2)} ms  codes ${JSON.stringify(r.codes)}  server CPU ${r.serverCpuPct.toFixed(0)}%`)
}
await web.stop(15_000)
await db.end()
redis.disconnect()

const ping = results[0].views
const lines = [
  `| scenario | per second | × ping | p50 ms | p99 ms | per server CPU-second |`,
  `|---|---:|---:|---:|---:|---:|`,
  ...results.map((r) => `| ${r.name} | ${Math.round(r.views).toLocaleString('en-US')}${r.perView ? ' views' : ''} | ${(r.views / ping).toFixed(3)} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${r.perCpuSecond ? Math.round(r.perCpuSecond / (r.perView ?? 1)).toLocaleString('en-US') : '–'} |`),
]
fs.writeFileSync(
  path.join(out, 'result.json'),
  JSON.stringify({ stamp, load, duration: DURATION, connections: CONNECTIONS, results }, null, 2),
)
fs.writeFileSync(path.join(out, 'summary.md'), `${lines.join('\n')}\n`)
console.log(`\n${lines.join('\n')}\n\nload average before: ${load}; results in ${path.relative(ROOT, out)}/`)
process.exit(0)
