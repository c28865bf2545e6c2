#!/usr/bin/env node
// CPU profile of one web instance under one benchmark load, with the top frames printed:
//   node bench/profile.mjs --stack .stack/test [--scenario purchase|soldout|list|ping|settle] [--duration 10]
// (settle: fills Kafka through a web instance, then profiles one payment worker settling it all)
// Uses the shoppers `npm run bench -- --stack DIR` left in DIR/bench-users.json (tokens last an hour).
// The web runs with `node --cpu-prof`; the profile is written when it stops (SIGTERM), into
// .bench/profile-<scenario>-<time>/, and summarised: self time by function and by package.
import '../scripts/lib/on-node24.mjs' // first: re-runs this script on Node 24 when started on an older Node
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { parseArgs } from 'node:util'
import mysql from 'mysql2/promise'
import Redis from 'ioredis'
import { APP_NODE_FLAGS } from '../scripts/lib/node-runtime.mjs'
import { openStack } from '../scripts/lib/stack.mjs'
import { ROOT, cpuSeconds, runWrk, say } from './lib/util.mjs'
import { createBenchCoupon } from './lib/coupons.mjs'
import { stageMarkdown, stageTable } from './lib/stages.mjs'

const { values: args } = parseArgs({ options: {
  stack: { type: 'string' }, scenario: { type: 'string', default: 'purchase' }, duration: { type: 'string', default: '10' },
  connections: { type: 'string', default: '50' }, env: { type: 'string', multiple: true, default: [] },
} })
if (!args.stack) throw new Error('--stack DIR is required (a running stack, e.g. .stack/test)')
const stack = openStack(path.resolve(args.stack))
const env = stack.env
const users = JSON.parse(fs.readFileSync(path.join(stack.dir, 'bench-users.json'), 'utf8')).filter((u) => u.until > Date.now() + 60_000)
const outDir = path.join(ROOT, '.bench', `profile-${args.scenario}-${new Date().toISOString().replace(/[:.]/g, '-')}`)
fs.mkdirSync(outDir, { recursive: true })
const tokenFile = path.join(outDir, 'tokens.txt')
fs.writeFileSync(tokenFile, users.map((u) => u.token).join('\n') + '\n', { mode: 0o600 })

const extra = Object.fromEntries(args.env.map((kv) => kv.split('=')))
// started here, not through the stack library: --cpu-prof is not allowed in NODE_OPTIONS
async function profiled(script, extraEnv, healthUrl) {
  const spawnedAt = Date.now()
  const child = spawn(process.execPath, [...APP_NODE_FLAGS, '--cpu-prof', `--cpu-prof-dir=${outDir}`, path.join(ROOT, script)], {
    env: { ...process.env, ...env, ...extraEnv }, stdio: ['ignore', 'ignore', 'inherit'],
  })
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`${script} exited with ${child.exitCode}`)
    try { if ((await fetch(healthUrl)).ok) break } catch { /* starting */ }
    if (i > 300) throw new Error(`${script} did not start`)
    await new Promise((r) => setTimeout(r, 100))
  }
  return { pid: child.pid, spawnedAt, stop: async () => { child.kill('SIGTERM'); await once(child, 'exit') } }
}
const freePort = () => new Promise((resolve) => { const srv = net.createServer().listen(0, '127.0.0.1', () => { const p = srv.address().port; srv.close(() => resolve(p)) }) })
const port = await freePort()
let web
if (args.scenario === 'settle') {
  // the worker is profiled: the web only fills Kafka
  web = await stack.startWeb({ env: { PURCHASE_RATE_LIMIT: '1000000' } })
} else {
  web = { url: `http://127.0.0.1:${port}`, ...(await profiled('.output/server/index.mjs', { PURCHASE_RATE_LIMIT: '1000000', ...extra, HOST: '127.0.0.1', PORT: String(port), NITRO_HOST: '127.0.0.1', NITRO_PORT: String(port) }, `http://127.0.0.1:${port}/healthz`)) }
}
const db = mysql.createPool({ uri: env.DATABASE_URL, connectionLimit: 2 })
const redis = new Redis(env.REDIS_URL)
const coupon = (stock) => createBenchCoupon(db, redis, { name: 'Bench profile', description: 'bench/profile.mjs', stock })
let run
let window // the measured run, in ms since the profiled process started (warm-up and start-up left out)
async function measured(load, proc = web) {
  const from = Date.now() - proc.spawnedAt
  const r = await load()
  window = { from, to: Date.now() - proc.spawnedAt }
  return r
}
const d = Number(args.duration)
const c = Number(args.connections)
try {
  if (args.scenario === 'purchase') {
    // warm the instance's token cache on one coupon, then profile real reservations on others
    await runWrk({ url: web.url, method: 'POST', path: '/api/trpc/order.purchase', tokenFile, body: JSON.stringify({ couponId: await coupon(users.length) }), limit: users.length, connections: c, label: 'warm-up' })
    // as the bench's sustained run: for the whole duration every request a new (shopper, coupon) pair
    const coupons = []
    for (let i = 0; i < 20; i++) coupons.push(await coupon(users.length))
    run = await measured(() => runWrk({ url: web.url, method: 'POST', path: '/api/trpc/order.purchase', tokenFile, coupons, duration: d, connections: c, serverPid: web.pid, label: 'purchase' }))
  } else if (args.scenario === 'settle') {
    // two coupons' worth of events wait in Kafka (no worker runs), then one profiled worker settles them
    const coupons = [await coupon(users.length), await coupon(users.length)]
    for (const c of coupons) await runWrk({ url: web.url, method: 'POST', path: '/api/trpc/order.purchase', tokenFile, body: JSON.stringify({ couponId: c }), limit: users.length, connections: Number(args.connections), label: 'filling Kafka' })
    const metricsPort = await freePort()
    const t0 = Date.now()
    const worker = await profiled('.output/worker/index.mjs', { METRICS_PORT: String(metricsPort), ...extra }, `http://127.0.0.1:${metricsPort}/healthz`)
    const cpu0 = cpuSeconds(worker.pid)
    for (;;) {
      const [[{ n }]] = await db.query(`SELECT COUNT(*) AS n FROM orders WHERE coupon_id IN (?)`, [coupons])
      if (Number(n) > 0) break
      await new Promise((r) => setTimeout(r, 20))
    }
    const from = Date.now() - worker.spawnedAt
    for (;;) {
      const [[{ n }]] = await db.query(`SELECT COUNT(*) AS n FROM orders WHERE coupon_id IN (?)`, [coupons])
      if (Number(n) >= 2 * users.length) break
      await new Promise((r) => setTimeout(r, 100))
    }
    const seconds = (Date.now() - t0) / 1000
    const cpu = cpuSeconds(worker.pid) - cpu0
    window = { from, to: Date.now() - worker.spawnedAt }
    await worker.stop()
    run = { rps: (2 * users.length) / seconds, requests: 2 * users.length, p50: NaN, p99: NaN, serverCpuPct: (cpu / seconds) * 100, codes: { settled: 2 * users.length, workerCpuSeconds: cpu } }
  } else if (args.scenario === 'soldout') {
    // no stock and nothing pending: the first answer from Redis is SOLD_OUT, every later one the local flag
    const opts = { url: web.url, method: 'POST', path: '/api/trpc/order.purchase', tokenFile, body: JSON.stringify({ couponId: await coupon(0) }), connections: c, serverPid: web.pid }
    await runWrk({ ...opts, duration: 2, label: 'warm-up' })
    run = await measured(() => runWrk({ ...opts, duration: d, label: 'sold out' }))
  } else if (args.scenario === 'list') {
    const opts = { url: web.url, path: `/api/trpc/coupon.list?batch=1&input=${encodeURIComponent('{"0":{"page":1,"pageSize":12}}')}`, connections: c, serverPid: web.pid }
    await runWrk({ ...opts, duration: 2, label: 'warm-up' })
    run = await measured(() => runWrk({ ...opts, duration: d, label: 'coupon.list' }))
  } else {
    const opts = { url: web.url, path: '/api/trpc/system.ping', connections: c, serverPid: web.pid }
    await runWrk({ ...opts, duration: 2, label: 'warm-up' })
    run = await measured(() => runWrk({ ...opts, duration: d, label: 'ping' }))
  }
} finally {
  await web.stop(20_000)
  await db.end()
  redis.disconnect()
  fs.rmSync(tokenFile, { force: true })
}
say(`${args.scenario}: ${Math.round(run.rps)} req/s, p50 ${run.p50.toFixed(2)} ms, p99 ${run.p99.toFixed(2)} ms, server CPU ${run.serverCpuPct.toFixed(0)} %, answers ${JSON.stringify(run.codes)}`)

const file = fs.readdirSync(outDir).find((f) => f.endsWith('.cpuprofile'))
if (!file) throw new Error(`no .cpuprofile in ${outDir}`)
const prof = JSON.parse(fs.readFileSync(path.join(outDir, file), 'utf8'))
const byId = new Map(prof.nodes.map((n) => [n.id, n]))
const self = new Map()
const dt = new Map()
prof.samples.forEach((id, i) => dt.set(id, (dt.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0)))
const total = [...dt.values()].reduce((a, b) => a + b, 0)
const pkgOf = (url) => {
  if (!url) return '(native/VM)'
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)
  if (m) return m[1]
  if (url.startsWith('node:')) return 'node core'
  if (url.includes('.output/server/chunks')) return 'app (.output/server/chunks)'
  return url.replace(/^.*\/\.output\//, '.output/')
}
const byPkg = new Map()
for (const [id, t] of dt) {
  const n = byId.get(id)
  const cf = n.callFrame
  const key = `${cf.functionName || '(anonymous)'} ${cf.url ? `${cf.url.replace(/^.*\/(node_modules|\.output)\//, '$1/')}:${cf.lineNumber + 1}` : ''}`
  self.set(key, (self.get(key) ?? 0) + t)
  const p = pkgOf(cf.url)
  byPkg.set(p, (byPkg.get(p) ?? 0) + t)
}
const top = (m, k) => [...m].sort((a, b) => b[1] - a[1]).slice(0, k).map(([name, t]) => `${((t / total) * 100).toFixed(1).padStart(5)} %  ${name}`)
const stages = stageMarkdown(stageTable(prof, run.requests, window), `${args.scenario}, ${run.requests} ${args.scenario === 'settle' ? 'payments' : 'requests'}`)
fs.writeFileSync(path.join(outDir, 'stages.md'), stages + '\n')
const text = [`profile: ${path.join(outDir, file)}`, '', 'self time by function:', ...top(self, 25), '', 'self time by package:', ...top(byPkg, 15), '', 'per-stage CPU (innermost named stage on each sample\'s stack):', stages].join('\n')
fs.writeFileSync(path.join(outDir, 'top.txt'), text + '\n')
say(text)
