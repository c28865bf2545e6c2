#!/usr/bin/env node
// Live stock over /ws: the web instance's CPU per purchase attempt with 0 and with --sockets
// visitors' sockets (anonymous `coupon.onStock` subscriptions) watching the coupon being bought, and
// what those tabs would have cost polling coupon.get every 3 s. One web instance, no workers needed
// (reservations only).
//
//   npm run build && node scripts/stack.mjs up test
//   node bench/pages-stock.mjs --stack .stack/test [--sockets 1000] [--users 100] [--duration 6]
import fs from 'node:fs'
import path from 'node:path'
import { parseArgs } from 'node:util'
import mysql from 'mysql2/promise'
import Redis from 'ioredis'
import WebSocket from 'ws'
import { openStack } from '../scripts/lib/stack.mjs'
import { ROOT, cpuSeconds, loadAverage, runWrk, say, sleep } from './lib/util.mjs'
import { createBenchCoupon } from './lib/coupons.mjs'
import { shoppers } from './lib/keycloak.mjs'

const { values: args } = parseArgs({
  options: {
    stack: { type: 'string', default: '.stack/test' },
    sockets: { type: 'string', default: '1000' },
    users: { type: 'string', default: '100' },
    duration: { type: 'string', default: '6' },
  },
})
const SOCKETS = Number(args.sockets)
const stackDir = path.resolve(args.stack)
const stack = openStack(stackDir)
const env = { ...stack.env }
const stamp = new Date().toISOString().replace(/[:.]/g, '-')
const out = path.join(ROOT, '.bench', `pages-stock-${stamp}`)
fs.mkdirSync(out, { recursive: true })

const db = await mysql.createConnection(env.DATABASE_URL)
const redis = new Redis(env.REDIS_URL)
const coupon = (stock) =>
  createBenchCoupon(db, redis, { name: `Bench stock ${stamp}`, description: 'made by bench/pages-stock.mjs', stock })

const users = await shoppers(env, stackDir, Number(args.users))
const tokenFile = path.join(out, 'tokens.txt')
fs.writeFileSync(tokenFile, users.map((u) => u.token).join('\n'))
const web = await stack.startWeb({ env: { PURCHASE_RATE_LIMIT: '1000000' } })
say(`load average before: ${loadAverage()}`)

/** A purchase storm on a fresh coupon (each shopper reserves once, then ALREADY_PURCHASED). */
async function storm(label, couponId) {
  return await runWrk({
    url: web.url,
    method: 'POST',
    path: '/api/trpc/order.purchase',
    tokenFile,
    body: JSON.stringify({ couponId }),
    duration: Number(args.duration),
    serverPid: web.pid,
    label,
  })
}

// Warm-up: the shoppers' tokens and user rows become known to the instance (first sight costs more).
await storm('warm-up', await coupon(100_000))
const quiet = await storm('purchases, no sockets', await coupon(100_000))

// The subscribed tabs: --sockets visitors' sockets, each watching the coupon of the next storm
// (tRPC's protocol by hand: `ws` keeps the load generator light).
const target = await coupon(100_000)
const sockets = []
let pushes = 0
for (let i = 0; i < SOCKETS; i++) {
  const ws = new WebSocket(`${web.url.replace('http', 'ws')}/ws`)
  await new Promise((resolve, reject) => {
    ws.on('error', reject)
    ws.on('open', () =>
      ws.send(JSON.stringify({ id: 1, method: 'subscription', params: { path: 'coupon.onStock', input: { couponIds: [target] } } })),
    )
    ws.on('message', (data) => {
      const text = String(data)
      if (text === 'PING') return ws.send('PONG')
      const m = JSON.parse(text)
      if (m.error) reject(new Error(JSON.stringify(m.error)))
      if (m.result?.type === 'started') resolve()
      if (m.result?.type === 'data') pushes++
    })
  })
  sockets.push(ws)
}
await sleep(1_000)
const idle0 = cpuSeconds(web.pid)
await sleep(5_000)
const idleCpuPct = ((cpuSeconds(web.pid) - idle0) / 5) * 100
pushes = 0
const watched = await storm(`purchases, ${SOCKETS} subscribed sockets`, target)
const pushesDuringStorm = pushes
for (const ws of sockets) ws.close()
await web.stop(15_000)
await db.end()
redis.disconnect()

const perAttemptMs = (r) => (r.requests && r.perCpuSecond ? 1000 / r.perCpuSecond : NaN)
const lines = [
  '| scenario | purchase attempts/s | server CPU ms per attempt | p50 ms | p99 ms |',
  '|---|---:|---:|---:|---:|',
  `| no sockets | ${Math.round(quiet.rps).toLocaleString('en-US')} | ${perAttemptMs(quiet).toFixed(3)} | ${quiet.p50.toFixed(2)} | ${quiet.p99.toFixed(2)} |`,
  `| ${SOCKETS} sockets subscribed to the coupon | ${Math.round(watched.rps).toLocaleString('en-US')} | ${perAttemptMs(watched).toFixed(3)} | ${watched.p50.toFixed(2)} | ${watched.p99.toFixed(2)} |`,
  '',
  `Idle with ${SOCKETS} subscribed sockets (the 250 ms tick): ${idleCpuPct.toFixed(1)} % of a core. During the storm the sockets received ${pushesDuringStorm.toLocaleString('en-US')} stock messages in ${watched.seconds.toFixed(1)} s (${Math.round(pushesDuringStorm / watched.seconds / SOCKETS * 10) / 10} per socket per second); polling coupon.get every 3 s, the same tabs would have sent ${Math.round(SOCKETS / 3).toLocaleString('en-US')} requests/s.`,
]
fs.writeFileSync(path.join(out, 'summary.md'), `${lines.join('\n')}\n`)
fs.writeFileSync(
  path.join(out, 'result.json'),
  JSON.stringify({ stamp, sockets: SOCKETS, quiet, watched, idleCpuPct, pushesDuringStorm }, null, 2),
)
console.log(`\n${lines.join('\n')}\n\nresults in ${path.relative(ROOT, out)}/`)
process.exit(0)
