#!/usr/bin/env node
// CPU profile of the app's processes under one benchmark load, with the top frames printed:
//   node bench/profile.mjs --stack .stack/test [--scenario purchase|soldout|list|ping|settle|pipeline]
//        [--duration 10] [--holders 0] [--env K=V …]
// purchase, soldout, list, ping: one web instance under that load (wrk, 50 connections, direct).
// soldout: a coupon with no stock left and nothing pending; with --holders N (`npm run bench`'s storm
//   has 100), its N units are first bought by N of the shoppers and settled by a payment worker (stopped
//   before the load), so that N of the storm's shoppers hold it.
// settle: fills Kafka through a web instance, then profiles one payment worker settling it all alone.
// pipeline: `npm run bench`'s "through NGINX, 1 web instance" load — NGINX in front of the profiled
//   web instance, two payment workers settling meanwhile (one of them profiled), every request a new
//   (shopper, coupon) pair; the web's table is per accepted purchase, the worker's per payment it settled.
// Uses the shoppers `npm run bench -- --stack DIR` (or bench/pipeline.mjs) left in DIR/bench-users.json
// (tokens last an hour). The processes run with `node --cpu-prof`; each profile is written when its
// process stops (SIGTERM), into .bench/profile-<scenario>-<time>/<name>/, and summarised: self time by
// function and by package, and the per-stage table (bench/lib/stages.mjs) of the measured window only
// (start-up and warm-up left out).
import '../scripts/lib/on-node24.mjs' // first: re-runs this script on Node 24 when started on an older Node
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import fs from 'node:fs'
import path from 'node:path'
import { parseArgs } from 'node:util'
import mysql from 'mysql2/promise'
import Redis from 'ioredis'
import { APP_NODE_FLAGS, appNodeEnv } from '../scripts/lib/node-runtime.mjs'
import { openStack } from '../scripts/lib/stack.mjs'
import { freePort } from '../scripts/lib/util.mjs'
import { ROOT, cpuSeconds, envFromPairs, runWrk, say, sleep } from './lib/util.mjs'
import { createBenchCoupon } from './lib/coupons.mjs'
import { remapBundle, stageMarkdown, stageTable } from './lib/stages.mjs'
import { scrapeMetrics } from './lib/pipeline.mjs'
import { firstCommit, waitSettled } from './lib/settled.mjs'

const { values: args } = parseArgs({ options: {
  stack: { type: 'string' }, scenario: { type: 'string', default: 'purchase' }, duration: { type: 'string', default: '10' },
  connections: { type: 'string', default: '50' }, env: { type: 'string', multiple: true, default: [] },
  holders: { type: 'string', default: '0' },
} })
if (!args.stack) throw new Error('--stack DIR is required (a running stack, e.g. .stack/test)')
const stack = openStack(path.resolve(args.stack))
const env = stack.env
const users = JSON.parse(fs.readFileSync(path.join(stack.dir, 'bench-users.json'), 'utf8')).filter((u) => u.until > Date.now() + 60_000)
const outDir = path.join(ROOT, '.bench', `profile-${args.scenario}-${new Date().toISOString().replace(/[:.]/g, '-')}`)
fs.mkdirSync(outDir, { recursive: true })
const tokenFile = path.join(outDir, 'tokens.txt')
fs.writeFileSync(tokenFile, users.map((u) => u.token).join('\n') + '\n', { mode: 0o600 })

const extra = envFromPairs(args.env)
const WORKER_BUNDLE = path.join(ROOT, '.output', 'worker', 'index.mjs')
// started here, not through the stack library: --cpu-prof is not allowed in NODE_OPTIONS
async function profiled(name, script, extraEnv, healthUrl) {
  const dir = path.join(outDir, name)
  const child = spawn(process.execPath, [...APP_NODE_FLAGS, '--cpu-prof', `--cpu-prof-dir=${dir}`, path.join(ROOT, script)], {
    env: { ...appNodeEnv(), ...process.env, ...env, ...extraEnv }, stdio: ['ignore', 'ignore', 'inherit'],
  })
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`${script} exited with ${child.exitCode}`)
    try { if ((await fetch(healthUrl)).ok) break } catch { /* starting */ }
    if (i > 300) throw new Error(`${script} did not start`)
    await sleep(100)
  }
  return {
    name,
    dir,
    pid: child.pid,
    bundle: script.includes('worker') ? WORKER_BUNDLE : undefined,
    stop: async () => {
      child.kill('SIGTERM')
      await once(child, 'exit')
    },
  }
}
const startProfiledWeb = async () => {
  const port = await freePort()
  return { url: `http://127.0.0.1:${port}`, ...(await profiled('web', '.output/server/index.mjs', { PURCHASE_RATE_LIMIT: '1000000', ...extra, HOST: '127.0.0.1', PORT: String(port), NITRO_HOST: '127.0.0.1', NITRO_PORT: String(port) }, `http://127.0.0.1:${port}/healthz`)) }
}
const startProfiledWorker = async () => {
  const metricsPort = await freePort()
  return { metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`, ...(await profiled('worker', '.output/worker/index.mjs', { METRICS_PORT: String(metricsPort), ...extra }, `http://127.0.0.1:${metricsPort}/healthz`)) }
}
const settledBy = async (worker) => {
  const m = await scrapeMetrics(worker.metricsUrl)
  return [...m].filter(([k]) => k.startsWith('flash_payments_settled_total')).reduce((a, [, v]) => a + v, 0)
}

const db = mysql.createPool({ uri: env.DATABASE_URL, connectionLimit: 2 })
const redis = new Redis(env.REDIS_URL)
const coupon = (stock) => createBenchCoupon(db, redis, { name: 'Bench profile', description: 'bench/profile.mjs', stock })
/** Until `expected` orders of the coupons are settled and followed up (while anything is pending, the reserve script answers HELD). */
const settled = (coupons, expected) => waitSettled({ db, redis, coupons, expected })
const d = Number(args.duration)
const c = Number(args.connections)
const purchase = { method: 'POST', path: '/api/trpc/order.purchase', tokenFile }
/** The profiled processes, each with what it served in the measured window: { proc, count, unit, window }. */
const measured = []
/** Now on the monotonic clock, in µs: the clock of a .cpuprofile's startTime (V8's TimeTicks, CLOCK_MONOTONIC). */
const monoUs = () => Number(process.hrtime.bigint() / 1000n)
/** The window from `from` (monoUs) to now; made relative to its profile's start when the profile is read. */
const window = (from) => ({ from, to: monoUs() })
const others = [] // helpers started through the stack library, stopped at the end
let run
try {
  if (args.scenario === 'settle') {
    // two coupons' worth of events wait in Kafka (no worker runs), then one profiled worker settles them
    const web = await stack.startWeb({ env: { PURCHASE_RATE_LIMIT: '1000000' } })
    others.push(web)
    const coupons = [await coupon(users.length), await coupon(users.length)]
    for (const cp of coupons) {
      await runWrk({
        url: web.url,
        ...purchase,
        body: JSON.stringify({ couponId: cp }),
        limit: users.length,
        connections: c,
        label: 'filling Kafka',
      })
    }
    const t0 = Date.now()
    const worker = await startProfiledWorker()
    others.push(worker)
    const cpu0 = cpuSeconds(worker.pid)
    await firstCommit(db, coupons) // start-up and the group's join left out
    const from = monoUs()
    await settled(coupons, 2 * users.length)
    const seconds = (Date.now() - t0) / 1000
    const cpu = cpuSeconds(worker.pid) - cpu0
    measured.push({ proc: worker, count: 2 * users.length, unit: 'payment', window: window(from) })
    run = {
      rps: (2 * users.length) / seconds,
      requests: 2 * users.length,
      p50: NaN,
      p99: NaN,
      serverCpuPct: (cpu / seconds) * 100,
      codes: { settled: 2 * users.length, workerCpuSeconds: cpu },
    }
  } else if (args.scenario === 'pipeline') {
    const web = await startProfiledWeb()
    const worker = await startProfiledWorker()
    others.push(web, worker, await stack.startWorker({}))
    const port = await freePort()
    const nginx = await stack.startNginx({
      name: 'profile-nginx',
      port,
      upstreams: [Number(new URL(web.url).port)],
      accessLog: false,
      purchaseRate: 1e6,
      purchaseBurst: 1e6,
      addressPurchaseRate: 1e6,
      addressPurchaseBurst: 1e6,
    })
    others.push({ stop: () => stack.stopNginx('profile-nginx') })
    const warm = [await coupon(users.length), await coupon(users.length)]
    const w = await runWrk({ url: nginx.url, ...purchase, coupons: warm, limit: users.length * 2, connections: c, label: 'warm-up' })
    await settled(warm, w.codes?.['200'] ?? 0)
    const coupons = []
    for (let i = 0; i < 40; i++) coupons.push(await coupon(users.length))
    const from = monoUs()
    const before = await settledBy(worker)
    run = await runWrk({
      url: nginx.url,
      ...purchase,
      coupons,
      duration: d,
      connections: c,
      serverPid: web.pid,
      label: 'purchases through NGINX',
    })
    await settled(coupons, run.codes?.['200'] ?? 0)
    measured.push({ proc: web, count: run.codes?.['200'] ?? 0, unit: 'purchase', window: window(from) })
    measured.push({ proc: worker, count: (await settledBy(worker)) - before, unit: 'payment', window: window(from) })
  } else {
    const web = await startProfiledWeb()
    others.push(web)
    let opts
    if (args.scenario === 'purchase') {
      // warm the instance's token cache on one coupon, then profile real reservations on others
      await runWrk({
        url: web.url,
        ...purchase,
        body: JSON.stringify({ couponId: await coupon(users.length) }),
        limit: users.length,
        connections: c,
        label: 'warm-up',
      })
      // as the bench's sustained run: for the whole duration every request a new (shopper, coupon) pair
      const coupons = []
      for (let i = 0; i < 20; i++) coupons.push(await coupon(users.length))
      opts = { url: web.url, ...purchase, coupons, label: 'purchase' }
    } else if (args.scenario === 'soldout') {
      // no stock and nothing pending: the first answer from Redis is SOLD_OUT, every later one from what the instance knows
      const holders = Number(args.holders)
      const soldOut = await coupon(holders)
      if (holders > 0) {
        const worker = await stack.startWorker({})
        const body = JSON.stringify({ couponId: soldOut })
        await runWrk({ url: web.url, ...purchase, body, limit: holders, connections: c, label: `selling the ${holders} units` })
        await settled([soldOut], holders)
        await worker.stop(20_000)
      }
      opts = { url: web.url, ...purchase, body: JSON.stringify({ couponId: soldOut }), label: `sold out (${holders} holders)` }
    } else if (args.scenario === 'list') {
      opts = { url: web.url, path: `/api/trpc/coupon.list?batch=1&input=${encodeURIComponent('{"0":{"page":1,"pageSize":12}}')}`, label: 'coupon.list' }
    } else {
      opts = { url: web.url, path: '/api/trpc/system.ping', label: 'ping' }
    }
    if (args.scenario !== 'purchase') await runWrk({ ...opts, duration: 2, connections: c, label: 'warm-up' })
    const t = monoUs()
    run = await runWrk({ ...opts, duration: d, connections: c, serverPid: web.pid })
    measured.push({ proc: web, count: run.requests, unit: 'request', window: window(t) })
  }
} finally {
  for (const p of others.reverse()) await p.stop(20_000)
  await db.end()
  redis.disconnect()
  fs.rmSync(tokenFile, { force: true })
}
say(`${args.scenario}: ${Math.round(run.rps)} req/s, p50 ${run.p50.toFixed(2)} ms, p99 ${run.p99.toFixed(2)} ms, server CPU ${run.serverCpuPct.toFixed(0)} %, answers ${JSON.stringify(run.codes)}`)

const pkgOf = (url) => {
  if (!url) return '(native/VM)'
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)
  if (m) return m[1]
  if (url.startsWith('node:')) return 'node core'
  if (url.includes('.output/server/chunks')) return 'app (.output/server/chunks)'
  return url.replace(/^.*\/\.output\//, '.output/')
}
for (const { proc, count, unit, window: mono } of measured) {
  const file = fs.readdirSync(proc.dir).find((f) => f.endsWith('.cpuprofile'))
  if (!file) throw new Error(`no .cpuprofile in ${proc.dir}`)
  const prof = JSON.parse(fs.readFileSync(path.join(proc.dir, file), 'utf8'))
  if (proc.bundle) remapBundle(prof, proc.bundle)
  const w = { from: (mono.from - prof.startTime) / 1000, to: (mono.to - prof.startTime) / 1000 } // ms since the profile's start
  const byId = new Map(prof.nodes.map((n) => [n.id, n]))
  const self = new Map()
  const byPkg = new Map()
  const dt = new Map()
  let at = 0
  prof.samples.forEach((id, i) => {
    at += prof.timeDeltas[i] ?? 0
    if (at / 1000 >= w.from && at / 1000 <= w.to) dt.set(id, (dt.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0))
  })
  const total = [...dt.values()].reduce((a, b) => a + b, 0)
  for (const [id, t] of dt) {
    const cf = byId.get(id).callFrame
    const key = `${cf.functionName || '(anonymous)'} ${cf.url ? `${cf.url.replace(/^.*\/(node_modules|\.output|server)\//, '$1/')}:${cf.lineNumber + 1}` : ''}`
    self.set(key, (self.get(key) ?? 0) + t)
    byPkg.set(pkgOf(cf.url), (byPkg.get(pkgOf(cf.url)) ?? 0) + t)
  }
  const top = (m, k) => [...m].sort((a, b) => b[1] - a[1]).slice(0, k).map(([name, t]) => `${((t / total) * 100).toFixed(1).padStart(5)} %  ${name}`)
  const stages = stageMarkdown(stageTable(prof, count, w), `${proc.name}, ${args.scenario}, ${count} ${unit}s`).replace('µs CPU per request', `µs CPU per ${unit}`)
  fs.writeFileSync(path.join(proc.dir, 'stages.md'), stages + '\n')
  const text = [`${proc.name} profile: ${path.join(proc.dir, file)}`, '', 'self time by function (measured window):', ...top(self, 25), '', 'self time by package:', ...top(byPkg, 15), '', 'per-stage CPU (innermost named stage on each sample\'s stack):', stages, ''].join('\n')
  fs.writeFileSync(path.join(proc.dir, 'top.txt'), text + '\n')
  say(text)
}
