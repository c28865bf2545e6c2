#!/usr/bin/env node
// The waiting room under load, on a running stack (`node scripts/stack.mjs up test` → .stack/test,
// with no payment workers of its own):
//   node bench/queue.mjs --stack .stack/test [--line 100000] [--shoppers 2000] [--connections 50]
// One coupon's line is filled to --line places: all but --shoppers by the product's join script
// (lua/queue-join-5.lua by EVALSHA, 200 in-process callers: Redis' own cost per join), then
// --shoppers real shoppers join through one web instance's HTTP endpoint (queue.challenge, the proof
// of work at 1 bit, queue.join: web CPU, Redis and MariaDB CPU per join). Then every place is read
// the way instances read them at the opening (lua/queue-entry-3.lua: a rank each); then 10,000
// queue.onStatus subscribers wait on the instance while a worker's ticker admits 1,000 a second in
// front of them (the instance's CPU for their position updates). Prints the rows
// bench/RESULTS.md keeps ("## The waiting room"), which bench/capacity.mjs reads. `npm run bench`
// runs the same (queueScenarios) on its own stack.
import '../scripts/lib/on-node24.mjs' // first: re-runs this script on Node 24 when started on an older Node
import { createHash } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { fileURLToPath } from 'node:url'
import mysql from 'mysql2/promise'
import Redis from 'ioredis'
import WebSocket from 'ws'
import { openStack } from '../scripts/lib/stack.mjs'
import { createBenchCoupon } from './lib/coupons.mjs'
import { shoppers } from './lib/keycloak.mjs'
import { BENCH_DIR, ROOT, cpuSeconds, loadAverage, percentile, runWrk, say, sleep } from './lib/util.mjs'

/** Redis' own CPU seconds (INFO: used_cpu_sys + used_cpu_user), as Redis counts them. */
async function redisCpu(redis) {
  const info = await redis.info('cpu')
  const v = (k) => Number(new RegExp(`${k}:([\\d.]+)`).exec(info)?.[1] ?? 0)
  return v('used_cpu_sys') + v('used_cpu_user')
}

/** Runs `task(i)` for i < n with `callers` in flight; rate, latency percentiles and Redis CPU per call. */
async function inProcess(redis, n, callers, task) {
  const latencies = []
  const cpu0 = await redisCpu(redis)
  const t0 = process.hrtime.bigint()
  let next = 0
  await Promise.all(Array.from({ length: callers }, async () => {
    while (next < n) {
      const i = next++
      const s = process.hrtime.bigint()
      await task(i)
      latencies.push(Number(process.hrtime.bigint() - s) / 1e6)
    }
  }))
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9
  latencies.sort((a, b) => a - b)
  return {
    rps: n / seconds,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    redisUsPerCall: ((await redisCpu(redis)) - cpu0) / n * 1e6,
  }
}

const fmt = (n, d = 0) => Number(n).toLocaleString('en-US', { maximumFractionDigits: d })

/**
 * The waiting room's scenarios on a running stack (`stack`: scripts/lib/stack.mjs' openStack), in
 * bench/index.mjs' scenario shape. `users`: shoppers with tokens (bench/lib/keycloak.mjs).
 */
export async function queueScenarios({ stack, users, line: LINE = 100_000, connections = 50 }) {
  const mariadbPid = stack.processes().mariadb.pid
  const lua = (name) => fs.readFileSync(path.join(ROOT, 'lua', `${name}.lua`), 'utf8')
  const redis = new Redis(stack.env.REDIS_URL, { enableAutoPipelining: true })
  redis.defineCommand('queueJoin', { numberOfKeys: 5, lua: lua('queue-join-5') })
  redis.defineCommand('queueEntry', { numberOfKeys: 3, lua: lua('queue-entry-3') })
  const db = mysql.createPool({ uri: stack.env.DATABASE_URL, connectionLimit: 2 })
  const web = await stack.startWeb({ env: { QUEUE_POW_DIFFICULTY: '1', PURCHASE_RATE_LIMIT: '1000000' } })
  const scenarios = []
  try {
    const couponId = await createBenchCoupon(db, redis, {
      name: 'Bench waiting room',
      description: 'bench/queue.mjs',
      stock: 1_000_000,
      price: 1,
    })
    // the room opens in ten minutes: every join of the run comes before the opening (a random place)
    await db.query('UPDATE coupons SET waiting_room_enabled = 1, waiting_room_admit_per_second = 1000, waiting_room_admission_seconds = 60, waiting_room_enabled_at = NOW(3), sale_starts_at = NOW(3) + INTERVAL 10 MINUTE WHERE id = ?', [couponId])
    const [line, turns, admits, meta] = ['line', 'turns', 'admits', 'meta'].map((k) => `queue:{${couponId}}:${k}`)
    const buyers = `coupon:{${couponId}}:buyers`
    const opensAt = Date.now() + 600_000

    // 1. the join script alone, filling the line
    const prefill = Math.max(0, LINE - users.length)
    const script = await inProcess(redis, prefill, 200, (i) =>
      redis.queueJoin(line, turns, admits, meta, buyers, 50_000_000 + i, Math.random().toPrecision(17), opensAt, ''),
    )
    scenarios.push({ name: `queue-join script (ioredis EVALSHA, 200 callers), line filled to ${fmt(prefill)}`, unit: 'joins/s', ...script, note: `Redis CPU ${script.redisUsPerCall.toFixed(1)} µs per join (INFO used_cpu)` })
    say(`    join script: ${fmt(script.rps)}/s, Redis ${script.redisUsPerCall.toFixed(1)} µs per join`)

    // 2. real shoppers through HTTP: challenge (not measured), proof of work, then the joins under wrk
    const bodies = []
    let next = 0
    await Promise.all(Array.from({ length: 16 }, async () => {
      while (next < users.length) {
        const u = users[next++]
        const res = await fetch(`${web.url}/api/trpc/queue.challenge`, {
          method: 'POST',
          headers: { authorization: `Bearer ${u.token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ couponId }),
        })
        const { challenge, difficulty } = (await res.json()).result.data
        let nonce = 0
        while (!leadingZeros(createHash('sha256').update(`${challenge}:${nonce}`).digest(), difficulty)) nonce++
        bodies.push(`${u.token}\t${JSON.stringify({ couponId, challenge, nonce: String(nonce) })}`)
      }
    }))
    const file = path.join(stack.dir, 'bench-queue-joins.txt')
    fs.writeFileSync(file, bodies.join('\n'))
    const [r0, m0] = [await redisCpu(redis), cpuSeconds(mariadbPid)]
    const joins = await runWrk({
      url: web.url,
      script: path.join(BENCH_DIR, 'lua', 'bodies.lua'),
      scriptArgs: ['POST', '/api/trpc/queue.join', file, String(bodies.length)],
      limit: bodies.length,
      connections,
      serverPid: web.pid,
      label: 'queue.join',
    })
    const [r1, m1] = [await redisCpu(redis), cpuSeconds(mariadbPid)]
    const placed = await redis.zcard(line)
    scenarios.push({ name: `queue.join through HTTP, ${fmt(bodies.length)} shoppers into a ${fmt(placed)}-place line`, ...joins,
      note: `Redis ${((r1 - r0) / bodies.length * 1e6).toFixed(1)} µs and MariaDB ${((m1 - m0) / bodies.length * 1e6).toFixed(0)} µs of CPU per join (the place recorded in batches); tokens new to the instance` })
    say(`    HTTP joins: ${fmt(joins.rps)}/s, ${fmt(joins.perCpuSecond)} per web CPU-second, ${JSON.stringify(joins.codes)}`)

    // 3. every place read once, as the instances read them at the opening (a rank each)
    const members = await redis.zrange(line, 0, -1)
    const reads = await inProcess(redis, members.length, 200, (i) => redis.queueEntry(line, turns, admits, members[i], ''))
    scenarios.push({ name: `queue-entry script (a place's rank, read once per shopper at the opening), ${fmt(members.length)} places`, unit: 'reads/s', ...reads, note: `Redis CPU ${reads.redisUsPerCall.toFixed(1)} µs per read` })
    say(`    place reads: ${fmt(reads.rps)}/s, Redis ${reads.redisUsPerCall.toFixed(1)} µs per read`)

    // 4. position updates: 10,000 waiting subscribers (5 queue.onStatus per shopper's socket) on the
    // instance while a worker's ticker admits 1,000 a second in front of them
    scenarios.push(await positionUpdates({ stack, web, db, redis, users, prefill }))

    const lineBytes = Number(await redis.call('MEMORY', 'USAGE', line, 'SAMPLES', '0'))
    scenarios.push({ name: `waiting-room line in Redis, ${fmt(placed)} places`, unit: 'bytes/place', rps: lineBytes / placed, note: 'MEMORY USAGE of queue:{id}:line' })
    await redis.unlink(line) // a bench's line of a hundred thousand places is not kept
  } finally {
    await web.stop()
    await db.end()
    redis.disconnect()
  }
  return scenarios
}

/** Opens a socket speaking tRPC's protocol by hand (bench/lib/live.mjs' way), with `count` queue.onStatus subscriptions. */
function openWatcher(webUrl, token, couponId, count, onUpdate) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${webUrl.replace('http', 'ws')}/ws?connectionParams=1`)
    let started = 0
    ws.on('open', () => {
      ws.send(JSON.stringify({ method: 'connectionParams', data: { token } }))
      ws.send(
        JSON.stringify(
          Array.from({ length: count }, (_, i) => ({
            id: i + 1,
            method: 'subscription',
            params: { path: 'queue.onStatus', input: { couponId } },
          })),
        ),
      )
    })
    ws.on('message', (data) => {
      const text = String(data)
      if (text === 'PING') return ws.send('PONG')
      const msg = JSON.parse(text)
      if (msg.error) reject(new Error(`subscription refused: ${JSON.stringify(msg.error)}`))
      else if (msg.result?.type === 'started' && ++started === count) resolve(ws)
      else if (msg.result?.type === 'data') onUpdate(msg.result.data)
    })
    ws.on('error', reject)
  })
}

const SUBSCRIPTIONS_PER_SOCKET = 5
const MEASURE_SECONDS = 30

/**
 * 10,000 subscribers waiting on one instance (5 per shopper's socket) behind `prefill` places, while
 * a payment worker's ticker admits 1,000 a second: the instance's CPU for their position updates.
 */
async function positionUpdates({ stack, web, db, redis, users, prefill }) {
  const opensInMs = 15_000
  const couponId = await createBenchCoupon(db, redis, {
    name: 'Bench waiting room, position updates',
    description: 'bench/queue.mjs',
    stock: 1_000_000,
    price: 1,
  })
  await db.query('UPDATE coupons SET waiting_room_enabled = 1, waiting_room_admit_per_second = 1000, waiting_room_admission_seconds = 60, waiting_room_enabled_at = NOW(3), sale_starts_at = NOW(3) + INTERVAL ? SECOND WHERE id = ?', [opensInMs / 1000, couponId])
  const opensAt = Date.now() + opensInMs
  const [line, turns, admits, meta] = ['line', 'turns', 'admits', 'meta'].map((k) => `queue:{${couponId}}:${k}`)
  const buyers = `coupon:{${couponId}}:buyers`
  const join = (userId) => redis.queueJoin(line, turns, admits, meta, buyers, userId, Math.random().toPrecision(17), opensAt, '')
  await inProcess(redis, prefill, 200, (i) => join(60_000_000 + i)) // the crowd in front, before the opening
  await sleep(Math.max(0, opensAt - Date.now()) + 100)
  // the shoppers join after the opening: first come, first served at the back
  const [rows] = await db.query('SELECT id FROM users WHERE email IN (?)', [users.map((u) => u.email)])
  for (const { id } of rows) await join(id)
  let updates = 0
  const sockets = []
  let next = 0
  await Promise.all(Array.from({ length: 50 }, async () => {
    while (next < users.length) {
      sockets.push(await openWatcher(web.url, users[next++].token, couponId, SUBSCRIPTIONS_PER_SOCKET, () => { updates++ }))
    }
  }))
  const subscribers = sockets.length * SUBSCRIPTIONS_PER_SOCKET
  const worker = await stack.startWorker({})
  try {
    await sleep(10_000) // the ticker takes its lease and admits; the first updates flow
    const [cpu0, admitted0, updates0, client0] = [
      cpuSeconds(web.pid),
      Number(await redis.get(`queue:{${couponId}}:admitted`) ?? 0),
      updates,
      process.cpuUsage(),
    ]
    const t0 = Date.now()
    await sleep(MEASURE_SECONDS * 1000)
    const seconds = (Date.now() - t0) / 1000
    const cpu = cpuSeconds(web.pid) - cpu0
    const admitted = Number(await redis.get(`queue:{${couponId}}:admitted`) ?? 0) - admitted0
    const client = process.cpuUsage(client0)
    const received = updates - updates0
    say(`    position updates: ${fmt(received / seconds)}/s to ${fmt(subscribers)} subscribers, web CPU ${fmt(cpu / seconds * 100)} % of a core`)
    return {
      name: `queue.onStatus position updates, ${fmt(subscribers)} waiting subscribers on one instance (${fmt(sockets.length)} sockets × ${SUBSCRIPTIONS_PER_SOCKET})`,
      unit: 'updates/s', rps: received / seconds, perCpuSecond: received / cpu, serverCpuPct: cpu / seconds * 100,
      note: `${fmt(admitted / seconds)} admitted/s in front of them by the worker's ticker over ${MEASURE_SECONDS} s; web CPU ${fmt(cpu / seconds * 100, 1)} % of a core for them; the bench's own sockets ${fmt((client.user + client.system) / 1e6 / seconds * 100)} %`,
    }
  } finally {
    for (const ws of sockets) ws.terminate()
    await worker.stop()
    await redis.unlink(line)
  }
}

function leadingZeros(hash, bits) {
  for (let i = 0; i < bits; i++) if (hash[i >> 3] & (0x80 >> (i & 7))) return false
  return true
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values: args } = parseArgs({
    options: {
      stack: { type: 'string' }, line: { type: 'string', default: '100000' }, shoppers: { type: 'string', default: '2000' },
      connections: { type: 'string', default: '50' },
    },
  })
  if (!args.stack) throw new Error('--stack DIR is required (a running stack, e.g. .stack/test)')
  const stack = openStack(path.resolve(args.stack))
  say(`bench/queue.mjs: load ${loadAverage()}`)
  const users = await shoppers(stack.env, stack.dir, Number(args.shoppers), (d, n) => {
    if (d % 500 === 0 || d === n) say(`shoppers ${d}/${n}`)
  })
  const scenarios = await queueScenarios({ stack, users, line: Number(args.line), connections: Number(args.connections) })
  const cell = (n, d = 0) => (n === undefined || Number.isNaN(n) ? '–' : fmt(n, d))
  console.log('\n| scenario | rate | per server CPU-second | p50 ms | p95 ms | p99 ms | answers / notes | server CPU | wrk CPU |\n|---|---:|---:|---:|---:|---:|---|---:|---:|')
  for (const x of scenarios) {
    const notes = [x.codes ? Object.entries(x.codes).map(([k, v]) => `${k}: ${v}`).join(', ') : '', x.note ?? ''].filter(Boolean).join('; ')
    console.log(`| ${x.name} | ${cell(x.rps, x.unit === 'bytes/place' ? 1 : 0)} ${x.unit ?? 'req/s'} | ${cell(x.perCpuSecond)} | ${cell(x.p50, 2)} | ${cell(x.p95, 2)} | ${cell(x.p99, 2)} | ${notes} | ${x.serverCpuPct ? `${cell(x.serverCpuPct)} %` : '–'} | ${x.wrkCpuPct ? `${cell(x.wrkCpuPct)} %` : '–'} |`)
  }
  say(`load at the end: ${loadAverage()}`)
}
