#!/usr/bin/env node
// coupon.list throughput and latency at an L1 hit, an L2 hit (CATALOGUE_L1=off) and with caching off
// (CATALOGUE_CACHE=off), in one run: one built web instance (.output/server) per mode, started in turn
// against the same MariaDB and Redis, under the same load.
//
//   DATABASE_URL=… REDIS_URL=… KAFKA_BROKERS=… OIDC_ISSUER=… node bench/browse.mjs [--duration 10] [--connections 64] [--rounds 3]
//
// Uses wrk when it is installed (less client overhead on the same machine), else a keep-alive Node client.
import '../scripts/lib/on-node24.mjs' // first: re-runs this script on Node 24 when started on an older Node
import { spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import http from 'node:http'
import { createServer } from 'node:net'
import { parseArgs } from 'node:util'
import { createConnection } from 'mysql2/promise'

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '64' },
    // Modes are interleaved round by round and the median round is reported, so a noisy neighbour on
    // a shared machine does not land on one mode only.
    rounds: { type: 'string', default: '3' },
    page: { type: 'string', default: '1' },
    pageSize: { type: 'string', default: '12' },
    tool: { type: 'string', default: spawnSync('wrk', ['--version']).error ? 'node' : 'wrk' },
  },
})
const duration = Number(args.duration)
const connections = Number(args.connections)
const input = encodeURIComponent(JSON.stringify({ 0: { page: Number(args.page), pageSize: Number(args.pageSize) } }))
// The app's client batches, so a single call arrives as a batch of one.
const path = `/api/trpc/coupon.list?batch=1&input=${input}`

const modes = [
  { name: 'L1 hit', env: {} },
  { name: 'L2 hit (CATALOGUE_L1=off)', env: { CATALOGUE_L1: 'off' } },
  { name: 'cache off (CATALOGUE_CACHE=off)', env: { CATALOGUE_CACHE: 'off' } },
]

async function freePort() {
  const server = createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address()
  server.close()
  return port
}

async function ensureCoupons(min) {
  const conn = await createConnection(process.env.DATABASE_URL)
  const [[{ n }]] = await conn.query('SELECT COUNT(*) AS n FROM coupons')
  for (let i = Number(n); i < min; i++) {
    await conn.query('INSERT INTO coupons (name, description, price, total_stock, stock) VALUES (?, ?, ?, 100, 100)', [`Bench coupon ${i}`, 'for bench/browse.mjs', 500 + i])
  }
  await conn.end()
}

async function startWeb(env) {
  const port = await freePort()
  const proc = spawn(process.execPath, ['.output/server/index.mjs'], {
    env: {
      SESSION_PASSWORD: 'bench-session-password-0123456789abcdef',
      ...process.env,
      ...env,
      HOST: '127.0.0.1',
      PORT: String(port),
      NITRO_HOST: '127.0.0.1',
      NITRO_PORT: String(port),
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  })
  const url = `http://127.0.0.1:${port}`
  for (let i = 0; ; i++) {
    if (proc.exitCode !== null) throw new Error(`web exited with ${proc.exitCode}`)
    try { if ((await fetch(`${url}/healthz`)).ok) break } catch { /* starting */ }
    if (i > 300) throw new Error('web did not start')
    await new Promise((r) => setTimeout(r, 100))
  }
  return { url, stop: async () => { proc.kill('SIGTERM'); await once(proc, 'exit') } }
}

function parseWrkTime(text) {
  const m = /([\d.]+)(us|ms|s)/.exec(text)
  return Number(m[1]) * { us: 0.001, ms: 1, s: 1000 }[m[2]]
}

function runWrk(url) {
  const out = spawnSync('wrk', ['-t1', `-c${connections}`, `-d${duration}s`, '--latency', `${url}${path}`], { encoding: 'utf8' }).stdout
  const pct = (p) => parseWrkTime(new RegExp(`\\s${p}%\\s+(\\S+)`).exec(out)[1])
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)[1]),
    p50: pct(50), p90: pct(90), p99: pct(99),
    errors: Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0),
  }
}

async function runNode(url) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections })
  const latencies = []
  let errors = 0
  const end = Date.now() + duration * 1000
  const one = () => new Promise((resolve) => {
    const started = process.hrtime.bigint()
    http.get(`${url}${path}`, { agent }, (res) => {
      res.resume()
      res.on('end', () => {
        if (res.statusCode !== 200) errors++
        latencies.push(Number(process.hrtime.bigint() - started) / 1e6)
        resolve()
      })
    }).on('error', () => { errors++; resolve() })
  })
  await Promise.all(Array.from({ length: connections }, async () => { while (Date.now() < end) await one() }))
  agent.destroy()
  latencies.sort((x, y) => x - y)
  const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p / 100))]
  return { rps: latencies.length / duration, p50: pct(50), p90: pct(90), p99: pct(99), errors }
}

await ensureCoupons(Number(args.page) * Number(args.pageSize))
console.log(`coupon.list page ${args.page}/${args.pageSize}, ${connections} connections, ${duration} s per mode and round, ${args.rounds} rounds, client: ${args.tool}`)
const results = new Map(modes.map((m) => [m.name, []]))
for (let round = 0; round < Number(args.rounds); round++) {
  for (const mode of modes) {
    const web = await startWeb(mode.env)
    try {
      for (let i = 0; i < 200; i++) await fetch(`${web.url}${path}`) // fill L2/L1, warm the JIT
      results.get(mode.name).push(args.tool === 'wrk' ? runWrk(web.url) : await runNode(web.url))
    } finally {
      await web.stop()
    }
  }
}
const rows = modes.map(({ name }) => {
  const runs = results.get(name).sort((x, y) => x.rps - y.rps)
  const median = runs[Math.floor(runs.length / 2)]
  return {
    mode: name, 'req/s (median)': Math.round(median.rps), 'req/s (all rounds)': runs.map((r) => Math.round(r.rps)).join(' '),
    'p50 ms': median.p50.toFixed(2), 'p90 ms': median.p90.toFixed(2), 'p99 ms': median.p99.toFixed(2),
    'non-200': runs.reduce((n, r) => n + r.errors, 0),
  }
})
console.table(rows)
