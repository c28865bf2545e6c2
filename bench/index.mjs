#!/usr/bin/env node
// `npm run bench`: the Flash Sale benchmark (issue 8). Every figure is measured in ONE run next to its
// baseline on the same machine, so the ratios hold on any machine:
//   HTTP: bare node:http (the ceiling of one Node process) · plain Nitro route (/healthz) · a trivial
//         tRPC query (system.ping) through the app's endpoint, fast lane and standard handler
//         (TRPC_FAST_LANE=off) · order.purchase flash burst by many distinct users on one coupon
//         (tokens never seen by the instance, then the same users again with cached tokens) · the
//         sold-out storm · coupon.list on an L1 hit, an L2 hit (CATALOGUE_L1=off), caching off ·
//         order.purchase for as long as the ping run, 100 coupons × the shoppers (every request a new
//         pair, a real reservation), tokens cached, 2 workers settling meanwhile · the same through
//         NGINX with 1, 2 and 3 web instances, each part's CPU per accepted purchase (the headline),
//         and the 1-instance run once more at the end of the run (the broker's JVM mostly compiled)
//   stores: Redis+Lua reserve (in-process ioredis EVALSHA, 200 callers) · MySQL pessimistic
//         (SELECT … FOR UPDATE) and optimistic (version-checked UPDATE) reservations on one hot row ·
//         settlement end to end with 1 and 2 payment workers, fresh and warmed (a second backlog) ·
//         one-transaction-per-payment settlement
//   purchase → result on the order.onUpdate subscription; 10,000 open subscriptions at rest on one
//   instance (--tabs 5000: CPU, RSS and heap above the idle instance's); RSS of web and workers during
//   a long burst (--soak); the waiting room (bench/queue.mjs); audit.
//   Every target of issue 13 is printed with its verdict and its distance from the goal ("by").
//
// Needs the build (`npm run build`): it runs .output/server and .output/worker. By default it starts
// its own throwaway stack (MariaDB, Redis, Kafka, Keycloak on free ports under $TMPDIR, removed at the
// end); `--stack DIR` uses a running stack instead (e.g. `node scripts/stack.mjs up test` → .stack/test),
// which must have no payment workers of its own (they would take the benchmark's events).
// Results: .bench/<timestamp>/{result.json,summary.md,chart.svg}.
//
//   npm run bench -- [--duration 6] [--connections 50] [--users 2000] [--soak 60] [--rounds 1]
//                    [--tabs 5000] [--stack DIR] [--keep] [--skip-soak]
import '../scripts/lib/on-node24.mjs' // first: re-runs this script on Node 24 when started on an older Node
import { execFileSync, spawn } from 'node:child_process'
import { once } from 'node:events'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import mysql from 'mysql2/promise'
import Redis from 'ioredis'
import { startStack, openStack, stopAll } from '../scripts/lib/stack.mjs'
import { freePort } from '../scripts/lib/util.mjs'
import {
  BENCH_DIR,
  ROOT,
  cpuSeconds,
  loadAverage,
  withChildren,
  percentile,
  rssMb,
  runWrk,
  say,
  sleep,
  status,
  storesCpu,
  withTicker,
} from './lib/util.mjs'
import { createBenchCoupon } from './lib/coupons.mjs'
import { shoppers } from './lib/keycloak.mjs'
import { buyAndAwaitResults, histogramMeanMs, openResultSockets, settleHistograms } from './lib/results.mjs'
import { measureOpenSubscriptions } from './lib/live.mjs'
import { kafkaProduceToConsume, mysqlOptimistic, mysqlPessimistic, redisLuaReserve, settlementPerTransaction } from './lib/baselines.mjs'
import { consoleTable, markdown, svg } from './lib/report.mjs'
import { PART_GOALS_US, SYSTEM_GOAL_US, costNote, measurePipeline } from './lib/pipeline.mjs'
import { queueScenarios } from './queue.mjs'
import { firstCommit, pendingCount, waitSettled } from './lib/settled.mjs'

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '6' },
    connections: { type: 'string', default: '50' },
    users: { type: 'string', default: '2000' },
    soak: { type: 'string', default: '60' },
    rounds: { type: 'string', default: '1' },
    tabs: { type: 'string', default: '5000' },
    stack: { type: 'string' },
    keep: { type: 'boolean', default: false },
    'skip-soak': { type: 'boolean', default: false },
  },
})
const DURATION = Number(args.duration)
const CONNECTIONS = Number(args.connections)
const USERS = Number(args.users)
const SPARE = 200 // warm-up and WebSocket shoppers, never used in the bursts
const SALE_COUPONS = 100 // coupons of the duration-matched purchase run (× USERS distinct pairs)
const NGINX_COUPONS = 40 // coupons of each run through NGINX (× USERS distinct pairs)
const ROUNDS = Math.max(1, Number(args.rounds))
const SOAK = args['skip-soak'] ? 0 : Number(args.soak)
const TABS = Number(args.tabs) // sockets of the open-subscriptions scenario, 2 subscriptions each

for (const f of ['.output/server/index.mjs', '.output/worker/index.mjs', '.output/worker/cli.mjs']) {
  if (!fs.existsSync(path.join(ROOT, f))) {
    console.error(`missing ${f}: run \`npm run build\` first`)
    process.exit(1)
  }
}

function uptime() {
  try {
    return execFileSync('uptime', { encoding: 'utf8' }).trim()
  } catch {
    return ''
  }
}
const stamp = new Date().toISOString().replace(/[:.]/g, '-').replace(/-\d+Z$/, 'Z')
const outDir = path.join(ROOT, '.bench', stamp)
fs.mkdirSync(outDir, { recursive: true })
const result = {
  meta: {
    startedAt: new Date().toISOString(), command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(),
    cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, node: process.version, loadStart: loadAverage(), loadEnd: [],
    uptimeStart: uptime(), uptimeEnd: '',
    duration: DURATION, connections: CONNECTIONS, users: USERS,
  },
  scenarios: [], targets: [], memory: [], audits: [], notes: [],
}
const runStarted = Date.now()
// when each step started (seconds into the run), to read the memory series against
result.steps = []
const step = (() => {
  let n = 0
  return (text) => {
    result.steps.push([Math.round((Date.now() - runStarted) / 1000), text])
    say(`\n[${++n}] ${text}`)
  }
})()

// ---------------------------------------------------------------------------------------------- stack
let stack
let ownStack = false
let tmpDir
if (args.stack) {
  stack = openStack(path.resolve(args.stack))
  const workers = Object.keys(stack.processes()).filter((k) => k.startsWith('worker-'))
  if (workers.length) {
    console.error(`the stack in ${args.stack} runs payment workers (${workers.join(', ')}): they would consume the benchmark's events. Stop them or let the benchmark start its own stack.`)
    process.exit(1)
  }
} else {
  tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'flash-sale-bench-'))
  step(`starting a throwaway stack in ${tmpDir} (MariaDB, Redis, Kafka, Keycloak)`)
  stack = await withTicker('stack starting', startStack({ name: 'bench', dir: tmpDir, ports: {} }))
  ownStack = true
}
const env = { ...stack.env }
const started = [] // web/worker handles we started, stopped at the end
let exiting = false
async function cleanup() {
  if (exiting) return
  exiting = true
  for (const p of started) await p.stop(5000).catch(() => {})
  if (ownStack && !args.keep) {
    await stopAll()
    fs.rmSync(tmpDir, { recursive: true, force: true })
  } else if (ownStack) {
    say(`stack kept running in ${tmpDir} (stop: node scripts/stack.mjs down, or kill its processes)`)
  }
}
for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]]) process.on(signal, () => { cleanup().finally(() => process.exit(code)) })

function node(script, ...args) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(ROOT, script), ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    child.stdout.on('data', (c) => { out += c })
    child.stderr.on('data', (c) => { out += c })
    child.on('exit', (code) => resolve({ code, out }))
  })
}

const WEB_ENV = { PURCHASE_RATE_LIMIT: '1000000' } // loopback benchmark: many attempts per user are fine
async function startWeb(extra = {}) {
  const w = await stack.startWeb({ env: { ...WEB_ENV, ...extra } })
  started.push(w)
  watch(w.pid, `web :${w.port}${Object.keys(extra).length ? ` (${Object.entries(extra).map(([k, v]) => `${k}=${v}`).join(' ')})` : ''}`)
  return w
}
async function startWorker() {
  const w = await stack.startWorker({})
  started.push(w)
  watch(w.pid, `worker :${w.metricsPort}`)
  return w
}
async function stopProc(p) {
  await p.stop(15_000)
  started.splice(started.indexOf(p), 1)
}

// RSS of every web/worker we start, sampled once a second for the whole run
const memory = new Map()
function watch(pid, name) {
  memory.set(pid, { name, samples: [] })
}
const memTimer = setInterval(() => {
  for (const [pid, m] of memory) {
    const v = rssMb(pid)
    if (v === v) m.samples.push({ t: Date.now(), mb: v })
  }
}, 1000)

function record(s) {
  result.scenarios.push(s)
  const codes = s.codes ? `  ${Object.entries(s.codes).map(([k, v]) => `${k}:${v}`).join(' ')}` : ''
  const cpu = s.serverCpuPct ? `  server CPU ${s.serverCpuPct.toFixed(0)}%` : ''
  const wrk = s.wrkCpuPct ? `  wrk CPU ${s.wrkCpuPct.toFixed(0)}%` : ''
  say(`    ${s.name}: ${Math.round(s.rps).toLocaleString('en-US')} ${s.unit ?? 'req/s'}  p50 ${s.p50?.toFixed(2) ?? '–'} ms  p99 ${s.p99?.toFixed(2) ?? '–'} ms${codes}${cpu}${wrk}`)
  return s
}
const median = (runs) => [...runs].sort((a, b) => a.rps - b.rps)[Math.floor(runs.length / 2)]

// ---------------------------------------------------------------------------------------------- data
let db
let redis
const createCoupon = (stock, name) =>
  createBenchCoupon(db, redis, { name: `Bench ${name} ${stamp}`, description: 'made by npm run bench', stock })
const purchasePath = '/api/trpc/order.purchase'
const body = (couponId) => JSON.stringify({ couponId })

async function audit(when) {
  const { code, out } = await node('.output/worker/cli.mjs', 'audit')
  // a failed check's line and the detail line under it
  const lines = out.split('\n')
  const failed = lines.flatMap((l, i) => (/FAIL/.test(l) ? [l.trim(), (lines[i + 1] ?? '').trim()] : [])).slice(0, 10).join(' | ')
  const a = { when, ok: code === 0, detail: code === 0 ? '' : failed || out.slice(-400) }
  result.audits.push(a)
  say(`    audit (${when}): ${a.ok ? 'passed' : `FAILED — ${a.detail}`}`)
  return a
}

/** Waits until every order of `coupons` (expected count) is settled and no reservation is pending; the time it was. */
const settled = (coupons, expected) => waitSettled({
  db, redis, coupons, expected, onProgress: (pending) => status(`  … settling: ${pending} reservations pending`),
})
async function paidCount(couponId) {
  const [[{ n }]] = await db.query(`SELECT COUNT(*) AS n FROM orders WHERE coupon_id = ? AND status = 'PAID'`, [couponId])
  return Number(n)
}

/** Until the payment workers' group is stable with `members` members, each holding partitions of the payment topic. */
async function groupHolds(members, timeoutMs = 60_000) {
  const { Kafka, AssignerProtocol, logLevel } = await import('kafkajs')
  const admin = new Kafka({ brokers: env.KAFKA_BROKERS.split(','), logLevel: logLevel.NOTHING }).admin()
  await admin.connect()
  try {
    for (const t0 = Date.now(); Date.now() - t0 < timeoutMs; await sleep(50)) {
      const [group] = (await admin.describeGroups(['payment-workers'])).groups
      const partitions = (m) => AssignerProtocol.MemberAssignment.decode(m.memberAssignment)?.assignment['payment-requests'] ?? []
      const holding = group.members.filter((m) => partitions(m).length > 0)
      if (group.state === 'Stable' && group.members.length === members && holding.length === members) return
    }
    throw new Error(`the payment workers' group did not settle on ${members} members holding partitions`)
  } finally {
    await admin.disconnect()
  }
}

/**
 * One worker is started once its backlog waits in Kafka, and timed from its first commit (its start
 * and group join left out). Several would join one after the other, and the first would settle much
 * of the backlog alone meanwhile: with `fill`, they join first, hold their partitions, are stopped
 * (SIGSTOP, well within the group's session timeout) while `fill()` writes the backlog, and continue
 * (SIGCONT) together; `fill` returns the coupons it sold. With `procs`, the workers of an earlier
 * measurement settle again the same way: a long-running worker's cost, its JIT warm-up behind it. A
 * fresh worker spends more CPU per payment while V8 compiles its hot paths: the one started onto a
 * waiting backlog does most of that in its first round, which is left out; workers stopped before
 * their backlog arrives start with small rounds, and warm up inside the measured span.
 */
async function measureSettlement(label, { coupons, expected, workers = 1, procs, fill }) {
  const t0 = Date.now()
  const started = !procs
  if (started) {
    procs = []
    for (let i = 0; i < workers; i++) procs.push(await startWorker())
  }
  if (fill) {
    await groupHolds(procs.length)
    for (const p of procs) process.kill(p.pid, 'SIGSTOP')
    try {
      coupons = await fill()
      expected = await pendingCount(redis, coupons)
    } finally {
      for (const p of procs) process.kill(p.pid, 'SIGCONT')
    }
  }
  // CPU from the first commit on: a worker's start-up and group join cost more than settling a
  // few thousand payments in batches, and are not what a payment costs
  const firstRound = await firstCommit(db, coupons)
  const before = { cpu: procs.map((p) => cpuSeconds(p.pid)), stores: storesCpu(stack), settled: firstRound }
  const tEnd = await withTicker(label, settled(coupons, expected))
  const cpu = procs.reduce((sum, p, i) => sum + cpuSeconds(p.pid) - before.cpu[i], 0)
  const stores = Object.entries(storesCpu(stack)).map(([k, v]) => `${k} ${((v - before.stores[k]) / (expected - before.settled) * 1e6).toFixed(0)}`).join(', ')
  const measured = expected - before.settled
  const [[{ first }]] = await db.query('SELECT UNIX_TIMESTAMP(MIN(updated_at)) * 1000 AS first FROM orders WHERE coupon_id IN (?)', [coupons])
  const span = (tEnd - Number(first)) / 1000
  return { procs, s: record({ name: label, group: 'store', rps: expected / span, unit: 'payments/s', serverCpuPct: (cpu / span) * 100, perCpuSecond: cpu > 0 ? measured / cpu : undefined, cpuUsPerPayment: cpu > 0 ? (cpu / measured) * 1e6 : undefined, note: `${expected} payments in ${span.toFixed(2)} s from the first commit (${((tEnd - t0) / 1000).toFixed(1)} s incl. ${started ? 'worker start and group join' : 'the workers\' check of their group'}${fill ? ' and the bursts meanwhile' : ''}); worker CPU after the first commit ${cpu.toFixed(2)} s for ${measured} payments (${cpu > 0 ? ((cpu / measured) * 1e6).toFixed(0) : '–'} µs each, 10 ms ticks); µs per payment of ${stores}` }) }
}

// ---------------------------------------------------------------------------------------------- run
let exitCode = 0
try {
  step('migrations')
  const m = await node('.output/worker/cli.mjs', 'migrate')
  if (m.code !== 0) throw new Error(`migrations failed:\n${m.out}`)
  db = mysql.createPool({ uri: env.DATABASE_URL, connectionLimit: 4 })
  redis = new Redis(env.REDIS_URL)

  step(`${USERS + SPARE} shoppers (Keycloak users + flash-sale-cli tokens)`)
  const users = await shoppers(env, stack.dir, USERS + SPARE, (d, n) => status(`  … shoppers ${d}/${n}`))
  const tokenFile = path.join(stack.dir, 'bench-tokens.txt')
  const spareFile = path.join(stack.dir, 'bench-spare-tokens.txt')
  fs.writeFileSync(tokenFile, users.slice(0, USERS).map((u) => u.token).join('\n') + '\n', { mode: 0o600 })
  fs.writeFileSync(spareFile, users.slice(USERS).map((u) => u.token).join('\n') + '\n', { mode: 0o600 })

  // ---- HTTP baselines, side by side (rounds interleave them; the median round is reported)
  step(`HTTP baselines: bare node:http, Nitro /healthz, tRPC system.ping (fast lane / standard handler) — ${ROUNDS} round(s) of ${DURATION}s`)
  const bare = spawn(process.execPath, [path.join(BENCH_DIR, 'bare-server.mjs'), '0'], { stdio: ['ignore', 'pipe', 'inherit'] })
  const [line] = await once(bare.stdout, 'data')
  const barePort = Number(/listening (\d+)/.exec(String(line))[1])
  const web = await startWeb()
  const webStock = await startWeb({ TRPC_FAST_LANE: 'off' })
  const http = { bare: [], nitro: [], fast: [], stock: [] }
  const wrk = (o) => runWrk({ duration: DURATION, connections: CONNECTIONS, ...o })
  // warm the JIT of each before measuring
  for (const [url, p] of [[`http://127.0.0.1:${barePort}`, '/'], [web.url, '/healthz'], [web.url, '/api/trpc/system.ping'], [webStock.url, '/api/trpc/system.ping']]) {
    await runWrk({ url, path: p, duration: 2, connections: CONNECTIONS, label: `warm-up ${p}` })
  }
  for (let r = 0; r < ROUNDS; r++) {
    http.bare.push(await wrk({ url: `http://127.0.0.1:${barePort}`, path: '/', serverPid: bare.pid, label: 'bare node:http' }))
    http.nitro.push(await wrk({ url: web.url, path: '/healthz', serverPid: web.pid, label: 'Nitro /healthz' }))
    http.fast.push(await wrk({ url: web.url, path: '/api/trpc/system.ping', serverPid: web.pid, label: 'tRPC ping (fast lane)' }))
    http.stock.push(
      await wrk({ url: webStock.url, path: '/api/trpc/system.ping', serverPid: webStock.pid, label: 'tRPC ping (standard handler)' }),
    )
  }
  bare.kill()
  const sBare = record({ name: 'bare node:http, fixed JSON', group: 'http', baseline: true, ...median(http.bare) })
  const sNitro = record({ name: 'Nitro route /healthz', group: 'http', baseline: true, ...median(http.nitro) })
  const sFast = record({ name: 'tRPC system.ping (fast lane)', group: 'http', ...median(http.fast) })
  const sStock = record({ name: 'tRPC system.ping (TRPC_FAST_LANE=off)', group: 'http', baseline: true, ...median(http.stock) })

  // ---- shoppers' MySQL rows exist before the sale (first sight through another instance), so the
  // burst instance pays what a known shopper's first request costs there: RSA check + user lookup
  step('registering the shoppers in MySQL (user.me through another instance)')
  {
    let next = 0
    let done = 0
    await Promise.all(Array.from({ length: 16 }, async () => {
      while (next < users.length) {
        const u = users[next++]
        const res = await fetch(`${webStock.url}/api/trpc/user.me`, { headers: { authorization: `Bearer ${u.token}` } })
        if (!res.ok) throw new Error(`user.me: ${res.status} ${await res.text()}`)
        await res.arrayBuffer()
        status(`  … ${++done}/${users.length}`)
      }
    }))
  }
  await stopProc(webStock)

  // ---- the stores, in-process (nothing else running)
  step(`reservation and settlement baselines (${DURATION}s each)`)
  const sLua = record({ name: 'Redis+Lua reserve (ioredis EVALSHA, 200 callers)', group: 'store', unit: 'reservations/s', ...(await withTicker('Redis+Lua', redisLuaReserve(env, { seconds: DURATION }), DURATION)) })
  sLua.note = `${sLua.nodeCpuUsPerCall.toFixed(1)} µs Node CPU per call`
  const sPess = record({
    name: 'MySQL SELECT … FOR UPDATE (50 conns)', group: 'store', baseline: true, unit: 'reservations/s',
    ...(await withTicker('MySQL pessimistic', mysqlPessimistic(env, { seconds: DURATION }), DURATION)),
  })
  const sOpt = record({
    name: 'MySQL version-checked UPDATE (50 conns)', group: 'store', baseline: true, unit: 'reservations/s',
    ...(await withTicker('MySQL optimistic', mysqlOptimistic(env, { seconds: DURATION }), DURATION)),
  })
  sOpt.note = `${sOpt.retries} retries, ${sOpt.gaveUp} gave up after 100`
  const sKafka = record({ name: 'Kafka produce → consume, one message at a time (kafkajs, acks all)', group: 'latency', unit: 'messages/s', ...(await withTicker('Kafka round trip', kafkaProduceToConsume(env))) })
  sKafka.note = 'the floor under purchase → result: the worker sees an event this long after the web sent it'
  const sPerTxn = record({ name: 'settlement, one transaction per payment (8 conns)', group: 'store', baseline: true, unit: 'payments/s', ...(await withTicker('per-payment settlement', settlementPerTransaction(env, { payments: 3000 }))) })

  // ---- browse (the catalogue engineer's bench/browse.mjs modes, folded in)
  step('browse: coupon.list on an L1 hit, an L2 hit (CATALOGUE_L1=off), caching off (CATALOGUE_CACHE=off)')
  {
    const [[{ n }]] = await db.query('SELECT COUNT(*) AS n FROM coupons')
    for (let i = Number(n); i < 12; i++) await createCoupon(100, `browse ${i}`)
    const listPath = `/api/trpc/coupon.list?batch=1&input=${encodeURIComponent(JSON.stringify({ 0: { page: 1, pageSize: 12 } }))}`
    const modes = [['coupon.list, L1 hit', {}], ['coupon.list, L2 hit (CATALOGUE_L1=off)', { CATALOGUE_L1: 'off' }], ['coupon.list, caching off (CATALOGUE_CACHE=off)', { CATALOGUE_CACHE: 'off' }]]
    for (const [name, extra] of modes) {
      const w = Object.keys(extra).length ? await startWeb(extra) : web
      await runWrk({ url: w.url, path: listPath, duration: 2, connections: CONNECTIONS, label: `warm-up ${name}` })
      const runs = []
      for (let r = 0; r < ROUNDS; r++) runs.push(await wrk({ url: w.url, path: listPath, serverPid: w.pid, label: name }))
      record({ name, group: 'http', key: name, ...median(runs) })
      if (w !== web) await stopProc(w)
    }
  }

  // ---- purchases through ONE web instance, workers stopped (the events wait in Kafka)
  step(`flash burst: ${USERS} distinct shoppers → order.purchase on one coupon, one web instance`)
  const warm = await createCoupon(SPARE, 'warm-up')
  await runWrk({
    url: web.url,
    method: 'POST',
    path: purchasePath,
    tokenFile: spareFile,
    body: body(warm),
    limit: SPARE,
    connections: CONNECTIONS,
    label: 'warm-up purchases (other shoppers)',
  })
  const couponA = await createCoupon(USERS, 'burst A')
  const sBurst = record({ name: `order.purchase burst, ${USERS} shoppers, tokens new to the instance`, group: 'http', ...(await runWrk({ url: web.url, method: 'POST', path: purchasePath, tokenFile, body: body(couponA), limit: USERS, connections: CONNECTIONS, serverPid: web.pid, label: 'burst (first sight)' })) })
  const couponB = await createCoupon(USERS, 'burst B')
  const sBurstCached = record({ name: `order.purchase burst, same shoppers, tokens cached`, group: 'http', ...(await runWrk({ url: web.url, method: 'POST', path: purchasePath, tokenFile, body: body(couponB), limit: USERS, connections: CONNECTIONS, serverPid: web.pid, label: 'burst (tokens cached)' })) })
  sBurst.firstSightUs = ((1 / sBurst.rps) - (1 / sBurstCached.rps)) * 1e6

  // ---- settlement, end to end: Kafka in → MySQL committed → Redis follow-up done → result published
  step('settlement with 1 payment worker (events of the bursts above, waiting in Kafka)')
  const phase1 = [warm, couponA, couponB]
  const one = await measureSettlement('settlement, 1 payment worker (end to end)', { coupons: phase1, expected: await pendingCount(redis, phase1) })
  const paidA = await paidCount(couponA)
  sBurst.paid = paidA
  sBurst.note = `paid ${paidA} of stock ${USERS}`
  say(`    burst coupon: ${paidA} paid of ${USERS}`)
  await audit('after the bursts and 1-worker settlement')
  /** `count` new coupons, each bought by every shopper through the burst instance (the events wait in Kafka). */
  const bursts = async (name, count) => {
    const coupons = []
    for (let i = 0; i < count; i++) coupons.push(await createCoupon(USERS, `${name} ${i + 1}`))
    for (const [i, coupon] of coupons.entries()) {
      await runWrk({
        url: web.url, method: 'POST', path: purchasePath, tokenFile, body: body(coupon),
        limit: USERS, connections: CONNECTIONS, serverPid: web.pid, label: `${name} ${i + 1}`,
      })
    }
    return coupons
  }
  step('settlement with the same worker, warmed (stopped while two more bursts of the same shoppers fill Kafka)')
  const oneWarm = await measureSettlement('warmed settlement, 1 payment worker (its second backlog)', {
    procs: one.procs, fill: () => bursts('warmed 1 worker', 2),
  })
  await audit('after the warmed 1-worker settlement')
  for (const p of one.procs) await stopProc(p)

  // four bursts: each of the two settles about as many payments as the one worker did before its warmed run
  step('settlement with 2 payment workers (joined and stopped while four more bursts of the same shoppers fill Kafka)')
  const two = await measureSettlement('settlement, 2 payment workers (end to end)', { workers: 2, fill: () => bursts('burst 2 workers', 4) })
  await audit('after 2-worker settlement')
  step('settlement with the same 2 workers, warmed (stopped while two more bursts fill Kafka)')
  const twoWarm = await measureSettlement('warmed settlement, 2 payment workers (their second backlog)', {
    procs: two.procs, fill: () => bursts('warmed 2 workers', 2),
  })
  await audit('after the warmed 2-worker settlement')

  // ---- the sold-out storm: a coupon whose 100 units were bought and settled (the 2 workers run on),
  // then every shopper at once, for as long as the ping run
  step(`sold-out storm: ${DURATION}s of order.purchase on a coupon whose 100 units were sold and settled, 2 workers running`)
  const couponS = await createCoupon(100, 'sold-out storm')
  await runWrk({
    url: web.url,
    method: 'POST',
    path: purchasePath,
    tokenFile,
    body: body(couponS),
    limit: 100,
    connections: CONNECTIONS,
    label: 'selling the 100 units',
  })
  await withTicker('settling the 100 units', settled([couponS], 100))
  // the ping again, right before each storm round on the same instance: the storm's target compares
  // the two (the baselines ran minutes earlier, and this machine's speed drifts over minutes)
  const storms = []
  const pingsBeside = []
  for (let r = 0; r < ROUNDS; r++) {
    pingsBeside.push(await wrk({ url: web.url, path: '/api/trpc/system.ping', serverPid: web.pid, label: 'tRPC ping (beside the storm)' }))
    storms.push(
      await wrk({
        url: web.url,
        method: 'POST',
        path: purchasePath,
        tokenFile,
        body: body(couponS),
        serverPid: web.pid,
        label: 'sold-out storm',
      }),
    )
  }
  const sStorm = record({ name: 'order.purchase sold-out storm (100 units sold and settled, 2 workers running)', group: 'http', ...median(storms) })
  sStorm.note = `paid ${await paidCount(couponS)} of 100`
  const sPingBeside = record({ name: 'tRPC system.ping (fast lane), right before the sold-out storm', group: 'http', ...median(pingsBeside) })

  // ---- purchases for as long as the ping run: every request a new (shopper, coupon) pair, a real
  // reservation; the 2 workers settle meanwhile
  step(`order.purchase for ${DURATION}s (as long as the ping run): ${SALE_COUPONS} coupons × ${USERS} shoppers, tokens cached, 2 workers settling meanwhile`)
  const saleCoupons = []
  for (let i = 0; i < SALE_COUPONS; i++) saleCoupons.push(await createCoupon(USERS, `sustained ${i}`))
  const sSustained = record({ name: `order.purchase ${DURATION}s: ${SALE_COUPONS} coupons × ${USERS} shoppers, every request a new pair, tokens cached, 2 workers settling`, group: 'http', ...(await wrk({ url: web.url, method: 'POST', path: purchasePath, tokenFile, coupons: saleCoupons, serverPid: web.pid, label: 'sustained purchases' })) })
  const reserved = sSustained.codes?.['200'] ?? 0
  sSustained.note = `${reserved} of ${sSustained.requests} answered PENDING${sSustained.requests > USERS * SALE_COUPONS ? ` (past ${USERS * SALE_COUPONS} requests the pairs repeat)` : ''}`
  await withTicker('settling the sustained run', settled(saleCoupons, reserved))
  await audit('after the sustained purchases')

  // ---- through NGINX with 1, 2 and 3 web instances: the same sustained purchases, new pairs each run
  step(`through NGINX: order.purchase for ${DURATION}s with 1, 2 and 3 web instances behind it (2 workers settling)`)
  const behind = [web, await startWeb(), await startWeb()]
  const nginxPort = await freePort()
  const nginxRates = { purchaseRate: 1e6, purchaseBurst: 1e6, addressPurchaseRate: 1e6, addressPurchaseBurst: 1e6 }
  /**
   * The sustained purchases through NGINX with the first n instances of `behind` behind it (NGINX
   * started, or reloaded for them when it runs), every request a new (shopper, coupon) pair, 2 workers
   * settling: each part's CPU per accepted purchase (measurePipeline). `again` says when a run is
   * repeated (its key gets "-again").
   */
  async function throughNginx(n, again = '') {
    const upstreams = behind.slice(0, n).map((w) => w.port)
    const nginxOptions = { name: 'bench-nginx', port: nginxPort, upstreams, accessLog: false, ...nginxRates }
    if (stack.processes()['bench-nginx']) await stack.reloadNginx(nginxOptions)
    else await stack.startNginx(nginxOptions)
    const nginx = { url: `http://127.0.0.1:${nginxPort}` }
    const nginxPids = withChildren(Number(fs.readFileSync(path.join(stack.dir, 'bench-nginx', 'nginx.pid'), 'utf8')))
    const couponName = `nginx ${n}${again ? ' again' : ''}`
    const runCoupons = []
    for (let i = 0; i < NGINX_COUPONS; i++) runCoupons.push(await createCoupon(USERS, `${couponName} web ${i}`))
    // every instance meets the tokens before the measured run (first sight is its own scenario)
    const warmCoupons = []
    for (let i = 0; i < 3; i++) warmCoupons.push(await createCoupon(USERS, `${couponName} warm-up ${i}`))
    const warmRun = await runWrk({
      url: nginx.url,
      method: 'POST',
      path: purchasePath,
      tokenFile,
      coupons: warmCoupons,
      limit: USERS * 3,
      connections: CONNECTIONS,
      label: `warm-up through NGINX, ${n} web`,
    })
    await withTicker(`settling the warm-up (${n} web)`, settled(warmCoupons, warmRun.codes?.['200'] ?? 0))
    const pids = behind.slice(0, n).map((w) => w.pid)
    const services = stack.processes()
    // every part's CPU from the run's start until its purchases are settled, per accepted purchase
    const p = await measurePipeline({
      groups: {
        web: pids,
        NGINX: nginxPids,
        workers: two.procs.map((w) => w.pid),
        Redis: services.redis?.pid,
        Kafka: services.kafka?.pid,
        MariaDB: services.mariadb?.pid,
      },
      metricsUrls: [
        ...behind.slice(0, n).map((w) => `${w.url}/metrics`),
        ...two.procs.map((w) => `http://127.0.0.1:${w.metricsPort}/metrics`),
      ],
      run: () =>
        wrk({
          url: nginx.url,
          method: 'POST',
          path: purchasePath,
          tokenFile,
          coupons: runCoupons,
          serverPid: pids,
          label: `through NGINX, ${n} web`,
        }),
      settle: (r) => withTicker(`settling the NGINX run (${n} web)`, settled(runCoupons, r.codes?.['200'] ?? 0)),
      redis,
    })
    const sN = record({ name: `order.purchase through NGINX, ${n} web instance${n > 1 ? 's' : ''} (${DURATION}s, new pairs, 2 workers settling)${again ? `, again ${again}` : ''}`, group: 'nginx', key: `nginx-${n}${again ? '-again' : ''}`, ...p.run })
    sN.pipeline = p
    sN.cpu = {
      ...Object.fromEntries(Object.entries(p.parts).map(([k, v]) => [k, v.pctOfCore])),
      wrk: p.run.wrkCpuPct,
      machineBusyPct: p.machineBusyPct,
    }
    sN.note = `${p.accepted} PENDING; ${costNote(p)}`
    return sN
  }
  const viaNginx = []
  for (let n = 1; n <= 3; n++) viaNginx.push(await throughNginx(n))
  await stack.stopNginx('bench-nginx')
  for (const w of behind.slice(1)) await stopProc(w)
  await audit('after the NGINX runs')

  // ---- purchase → WebSocket result
  step(`purchase → WebSocket result latency (${SPARE} shoppers with an open socket, 2 workers)`)
  const couponW = await createCoupon(SPARE, 'websocket')
  const spare = users.slice(USERS)
  const sockets = await openResultSockets(web.url, spare)
  await sleep(500)
  const { pushed: wsLat } = await buyAndAwaitResults({ webUrl: web.url, users: spare, sockets, couponId: couponW, concurrency: 10 })
  wsLat.sort((a, b) => a - b)
  // where the time goes: the workers' own histograms (batch settle time; reservation → settled)
  const histograms = await Promise.all(two.procs.map((p) => settleHistograms(p.metricsPort)))
  const mean = (name) => histogramMeanMs(name, histograms)
  const sWs = record({ name: 'purchase → result on order.onUpdate (WebSocket)', group: 'latency', rps: wsLat.length, unit: 'results received', p50: percentile(wsLat, 50), p95: percentile(wsLat, 95), p99: percentile(wsLat, 99), note: `${wsLat.length}/${spare.length} results pushed (10 concurrent purchases); workers since start: settling a batch ${mean('flash_settle_batch_seconds').toFixed(1)} ms mean, reservation → settled ${mean('flash_settle_latency_seconds').toFixed(1)} ms mean; Kafka alone p50 ${sKafka.p50.toFixed(1)} ms` })

  // ---- open subscriptions at rest, on an instance of their own (its RSS is not the soak's)
  step(`${TABS} tabs at rest on a fresh web instance: ${TABS * 2} subscriptions (order.onUpdate + coupon.onStock of 12 coupons each)`)
  const liveCoupons = []
  for (let i = 0; i < 48; i++) liveCoupons.push(await createCoupon(1000, `live ${i}`))
  const liveWeb = await stack.startWeb({
    env: { ...WEB_ENV, WS_SOCKETS_PER_USER: String(Math.ceil(TABS / spare.length)), WS_CONNECT_RATE_LIMIT: '0' },
  })
  started.push(liveWeb)
  const live = await withTicker(`opening ${TABS} tabs, then measuring at rest`, measureOpenSubscriptions({ web: liveWeb, users: spare, coupons: liveCoupons, tabs: TABS }))
  await stopProc(liveWeb)
  record({ name: `${live.server.subscriptions.toLocaleString('en-US')} open subscriptions at rest (${live.server.sockets.toLocaleString('en-US')} sockets)`, group: 'latency', key: 'open-subscriptions', rps: live.server.subscriptions, unit: 'subscriptions', note: `CPU ${live.open.cpuPct.toFixed(1)} % of a core (idle instance ${live.before.cpuPct.toFixed(1)} %); RSS ${live.rssAboveIdleMb.toFixed(0)} MB and live heap ${live.heapAboveIdleMb.toFixed(0)} MB above the idle instance's ${live.before.rssMb.toFixed(0)} / ${live.before.heapMb.toFixed(0)} MB` })

  // ---- the waiting room (bench/queue.mjs): joins by script and through HTTP into a 100,000-place
  // line, the opening's place reads
  step('waiting room: a 100,000-place line, joins by script and through HTTP, the opening\'s place reads')
  for (const s of await queueScenarios({ stack, users: users.slice(0, USERS), connections: CONNECTIONS })) record({ group: 'queue', ...s })

  // ---- soak: memory of web and workers under a long burst (sockets stay open)
  if (SOAK > 0) {
    step(`soak: ${SOAK}s of order.purchase through one web instance with 2 workers settling and ${SPARE} sockets open`)
    const couponSoak = await createCoupon(USERS, 'soak')
    const t0 = Date.now()
    const soak = await runWrk({
      url: web.url,
      method: 'POST',
      path: purchasePath,
      tokenFile,
      body: body(couponSoak),
      duration: SOAK,
      connections: CONNECTIONS,
      serverPid: web.pid,
      label: 'soak',
    })
    record({ name: `soak ${SOAK}s: order.purchase (reserve, then ALREADY_PURCHASED)`, group: 'soak', ...soak })
    result.soakWindow = { from: t0, to: Date.now() }
    // A shopper who asks again while their order is pending is answered 200 with that order: the
    // orders to settle are at most one per shopper, not one per 200 answer.
    await withTicker('settling the soak', settled([couponSoak], Math.min(soak.codes?.['200'] ?? 0, USERS)))
  }
  await Promise.all(sockets.map((s) => s.close()))

  // ---- the first run through NGINX once more, at the end: the broker's JVM has done most of its
  // compiling by now (the first run's figure holds its warm-up), and the stores hold every scenario's data
  const minutesIn = Math.round((Date.now() - runStarted) / 60_000)
  step(`through NGINX again, 1 web instance: order.purchase for ${DURATION}s, ${minutesIn} min into the run`)
  const viaNginxAgain = await throughNginx(1, `at the end of the run (${minutesIn} min in)`)
  await stack.stopNginx('bench-nginx')
  await sleep(1000)
  const last = await audit('at the end (quiet)')
  if (!last.ok) {
    // tell a real break from a read that raced a settlement still finishing
    await sleep(10_000)
    await audit('at the end, again 10 s later')
  }

  // ---- memory
  for (const [, mm] of memory) {
    if (!mm.samples.length) continue
    const mbs = mm.samples.map((s) => s.mb)
    const entry = {
      name: mm.name,
      start: mbs[0],
      peak: Math.max(...mbs),
      end: mbs[mbs.length - 1],
      series: mm.samples.map((x) => [Math.round((x.t - runStarted) / 1000), Math.round(x.mb)]),
    }
    if (result.soakWindow) {
      const inSoak = mm.samples.filter((s) => s.t >= result.soakWindow.from && s.t <= result.soakWindow.to)
      if (inSoak.length > 4) {
        const half = Math.floor(inSoak.length / 2)
        const firstHalf = Math.max(...inSoak.slice(0, half).map((s) => s.mb))
        const secondHalf = Math.max(...inSoak.slice(half).map((s) => s.mb))
        entry.soakGrowthPct = ((secondHalf - firstHalf) / firstHalf) * 100
      }
    }
    result.memory.push(entry)
  }

  // ---- targets (issue 13): every one printed with its verdict and how far the measurement is from it
  const ratio = (a, b) => a.rps / b.rps
  const cpuRatio = (a, b) => (a.perCpuSecond && b.perCpuSecond ? `${(a.perCpuSecond / b.perCpuSecond).toFixed(2)}×` : undefined)
  const pct = (value, goal) => `${value >= goal ? '+' : '−'}${Math.abs(((value - goal) / goal) * 100).toFixed(0)} %`
  /** A goal `value ≥ goal` (at least) or `value ≤ goal` (at most); `by` is the distance from the goal. */
  const target = (name, value, { atLeast, atMost, unit = '×', digits = 2, perCpu }) => {
    const goal = atLeast ?? atMost
    const met = Number.isFinite(value) ? (atLeast !== undefined ? value >= goal : value <= goal) : false
    const fmt = (v) => `${v.toFixed(digits)}${unit === '×' ? '×' : ` ${unit}`}`
    result.targets.push({ name, goal: `${atLeast !== undefined ? '≥' : '≤'} ${fmt(goal)}`, met, measured: Number.isFinite(value) ? fmt(value) : 'not measured', by: Number.isFinite(value) ? pct(value, goal) : '', perCpu })
  }
  const vs = (name, a, b, min) => target(name, ratio(a, b), { atLeast: min, perCpu: cpuRatio(a, b) })
  const l1 = result.scenarios.find((s) => s.key === 'coupon.list, L1 hit')
  vs('sold-out storm vs tRPC ping (fast lane) right before it', sStorm, sPingBeside, 0.8)
  result.targets.push({ name: '(info) sold-out storm vs the first tRPC ping (the baselines, minutes earlier)', goal: '—', met: null, measured: `${ratio(sStorm, sFast).toFixed(2)}×`, by: '', perCpu: cpuRatio(sStorm, sFast) })
  vs('coupon.list L1 hit vs tRPC ping (fast lane)', l1, sFast, 0.8)
  vs(`purchase, cached credentials (${DURATION}s, all new pairs) vs tRPC ping`, sSustained, sFast, 0.6)
  target('purchase, cached credentials: p99 at 50 connections', sSustained.p99, { atMost: 25, unit: 'ms', digits: 1 })
  target('purchase, cached credentials: per server CPU-s vs bare node', sSustained.perCpuSecond / sBare.perCpuSecond, { atLeast: 0.2 })
  vs('first purchase on the instance (new tokens) vs cached tokens', sBurst, sBurstCached, 0.8)
  vs('settlement, 1 worker vs one transaction per payment', one.s, sPerTxn, 10)
  target('settlement: worker CPU-µs per payment, 2 warmed workers vs 1', oneWarm.s.perCpuSecond / twoWarm.s.perCpuSecond, { atMost: 1.15 })
  target('purchase → WebSocket result p50 (10 concurrent)', sWs.p50, { atMost: 20, unit: 'ms', digits: 1 })
  target('purchase → WebSocket result p99 (10 concurrent)', sWs.p99, { atMost: 60, unit: 'ms', digits: 1 })
  target(`${live.server.subscriptions} open subscriptions at rest: CPU of the instance`, live.open.cpuPct, { atMost: 10, unit: '% of a core', digits: 1 })
  target(`${live.server.subscriptions} open subscriptions at rest: RSS above the idle instance's`, live.rssAboveIdleMb, { atMost: 100, unit: 'MB', digits: 0 })
  // the headline: the whole pipeline's CPU per accepted purchase through NGINX with one web instance
  const pipeline = viaNginx[0].pipeline
  result.headline = { name: viaNginx[0].name, rps: viaNginx[0].rps, ...pipeline }
  result.headlineAgain = { name: viaNginxAgain.name, rps: viaNginxAgain.rps, ...viaNginxAgain.pipeline }
  result.targets.push({ name: '(info) whole-system CPU per accepted purchase through NGINX, 1 web instance, again at the end of the run', goal: `≤ ${SYSTEM_GOAL_US} µs`, met: null, measured: `${Math.round(viaNginxAgain.pipeline.totalUs)} µs at ${Math.round(viaNginxAgain.rps)} purchases/s`, by: '' })
  target('purchases/s through NGINX, 1 web instance (2.5 × the 1,326/s of 2026-12-05)', viaNginx[0].rps, { atLeast: 2.5 * 1326, unit: 'purchases/s', digits: 0 })
  target('whole-system CPU per accepted purchase through NGINX, 1 web instance', pipeline.totalUs, { atMost: SYSTEM_GOAL_US, unit: 'µs', digits: 0 })
  for (const [part, goal] of Object.entries(PART_GOALS_US)) target(`${part} CPU per accepted purchase (same run)`, pipeline.parts[part]?.usPerPurchase, { atMost: goal, unit: 'µs', digits: 0 })
  result.targets.push({ name: 'through NGINX with 1, 2, 3 web instances (purchases/s; CPU split in the scenario notes)', goal: 'a table', met: viaNginx.every(Boolean), measured: viaNginx.map((x) => `${Math.round(x.rps).toLocaleString('en-US')}`).join(' / '), by: '' })
  result.targets.push({ name: '(info) settlement: worker CPU-µs per payment, 2 fresh workers vs 1 (their warm-up measured, the one\'s mostly in its first round, left out)', goal: '—', met: null, measured: `${(one.s.perCpuSecond / two.s.perCpuSecond).toFixed(2)}×`, by: '' })
  result.targets.push({ name: '(info) settlement, 1 warmed worker vs one transaction per payment', goal: '—', met: null, measured: `${ratio(oneWarm.s, sPerTxn).toFixed(2)}×`, by: '', perCpu: cpuRatio(oneWarm.s, sPerTxn) })
  result.targets.push({ name: '(info) settlement, 2 workers vs one transaction per payment', goal: '—', met: null, measured: `${ratio(two.s, sPerTxn).toFixed(2)}×`, by: '', perCpu: cpuRatio(two.s, sPerTxn) })
  result.targets.push({ name: '(info) tRPC ping (fast lane) vs bare node', goal: '—', met: null, measured: `${ratio(sFast, sBare).toFixed(2)}×`, by: '', perCpu: cpuRatio(sFast, sBare) })
  result.targets.push({ name: '(info) Redis+Lua vs MySQL pessimistic', goal: '—', met: null, measured: `${ratio(sLua, sPess).toFixed(2)}×`, by: '' })
  result.targets.push({ name: '(info) tRPC ping standard handler vs Nitro route', goal: '—', met: null, measured: `${ratio(sStock, sNitro).toFixed(2)}×`, by: '', perCpu: cpuRatio(sStock, sNitro) })
  const webs = result.memory.filter((x) => x.name.startsWith('web'))
  const workers = result.memory.filter((x) => x.name.startsWith('worker'))
  target('web RSS peak', Math.max(...webs.map((x) => x.peak)), { atMost: 250, unit: 'MB', digits: 0 })
  target('worker RSS peak', Math.max(...workers.map((x) => x.peak)), { atMost: 150, unit: 'MB', digits: 0 })
  const growth = result.memory.filter((x) => x.soakGrowthPct !== undefined)
  if (growth.length) {
    target(`RSS growth over the ${SOAK}s soak (2nd half peak vs 1st half peak)`, Math.max(...growth.map((x) => x.soakGrowthPct)), {
      atMost: 10,
      unit: '%',
      digits: 1,
    })
  } else {
    result.targets.push({
      name: 'RSS flat over the soak',
      goal: '≤ +10 %',
      met: false,
      measured: 'no soak in this run (--skip-soak)',
      by: '',
    })
  }
  const allOk = result.audits.every((a) => a.ok)
  result.targets.push({ name: 'audit: no oversell, no duplicate, credit conserved, nothing stuck', goal: 'all pass', met: allOk, measured: `${result.audits.filter((a) => a.ok).length}/${result.audits.length} passed`, by: '' })
  result.notes.push(`first-sight cost per purchase (new token vs cached, from the two bursts' rates): ${sBurst.firstSightUs.toFixed(0)} µs`)
  if (!allOk) exitCode = 1
} catch (error) {
  say(`\n✗ ${error.stack ?? error}`)
  result.error = String(error.stack ?? error)
  exitCode = 1
} finally {
  clearInterval(memTimer)
  result.meta.loadEnd = loadAverage()
  result.meta.uptimeEnd = uptime()
  await db?.end().catch(() => {})
  redis?.disconnect()
  for (const f of ['bench-tokens.txt', 'bench-spare-tokens.txt']) fs.rmSync(path.join(stack.dir, f), { force: true })
  await cleanup()
}

fs.writeFileSync(path.join(outDir, 'result.json'), JSON.stringify(result, null, 2))
fs.writeFileSync(path.join(outDir, 'summary.md'), markdown(result))
fs.writeFileSync(path.join(outDir, 'chart.svg'), svg(result))
say('')
consoleTable(result)
for (const n of result.notes) say(`note: ${n}`)
say(`\nuptime at start: ${result.meta.uptimeStart}\nuptime at end:   ${result.meta.uptimeEnd} (${result.meta.cpus} CPUs)`)
say(`results: ${path.relative(process.cwd(), outDir)}/{result.json,summary.md,chart.svg}`)
process.exit(exitCode)
