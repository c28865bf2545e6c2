#!/usr/bin/env node
// Open subscriptions at rest on one web instance: --tabs sockets (default 5,000), each holding its
// shopper's `order.onUpdate` and a catalogue page's `coupon.onStock` (12 coupons) — 10,000
// subscriptions, half of each — and the instance's CPU and RSS above its own idle RSS, no purchase
// meanwhile (the same scenario `npm run bench` runs).
//
//   npm run build && node scripts/stack.mjs up test
//   node bench/live-subscriptions.mjs --stack .stack/test [--tabs 5000] [--users 200] [--seconds 30]
//     [--env NAME=value …]   (the web instance's environment, for an A/B of a setting)
import '../scripts/lib/on-node24.mjs' // first: re-runs this script on Node 24 when started on an older Node
import fs from 'node:fs'
import path from 'node:path'
import { parseArgs } from 'node:util'
import mysql from 'mysql2/promise'
import Redis from 'ioredis'
import { openStack } from '../scripts/lib/stack.mjs'
import { createBenchCoupon } from './lib/coupons.mjs'
import { shoppers } from './lib/keycloak.mjs'
import { measureOpenSubscriptions } from './lib/live.mjs'
import { ROOT, envFromPairs, loadAverage, say } from './lib/util.mjs'

const { values: args } = parseArgs({
  options: {
    stack: { type: 'string', default: '.stack/test' },
    tabs: { type: 'string', default: '5000' },
    users: { type: 'string', default: '200' },
    seconds: { type: 'string', default: '30' },
    env: { type: 'string', multiple: true, default: [] },
  },
})
const TABS = Number(args.tabs)
const stackDir = path.resolve(args.stack)
const stack = openStack(stackDir)
const stamp = new Date().toISOString().replace(/[:.]/g, '-')
const out = path.join(ROOT, '.bench', `live-subscriptions-${stamp}`)
fs.mkdirSync(out, { recursive: true })

const db = await mysql.createConnection(stack.env.DATABASE_URL)
const redis = new Redis(stack.env.REDIS_URL)
const users = await shoppers(stack.env, stackDir, Number(args.users))
const coupons = []
for (let i = 0; i < 48; i++) {
  coupons.push(
    await createBenchCoupon(db, redis, {
      name: `Bench live ${stamp} ${i}`,
      description: 'made by bench/live-subscriptions.mjs',
      stock: 1000,
    }),
  )
}
// a shopper's tabs on one instance are capped; here each shopper holds TABS / users of them
const webEnv = envFromPairs(args.env)
const web = await stack.startWeb({
  env: { WS_SOCKETS_PER_USER: String(Math.ceil(TABS / users.length)), WS_CONNECT_RATE_LIMIT: '0', ...webEnv },
})
say(`load average before: ${loadAverage()}`)
try {
  const r = await measureOpenSubscriptions({
    web,
    users,
    coupons,
    tabs: TABS,
    seconds: Number(args.seconds),
    onProgress: (n) => say(`  ${n} tabs open`),
  })
  const lines = [
    `${r.server.sockets.toLocaleString('en-US')} sockets, ${r.server.subscriptions.toLocaleString('en-US')} subscriptions on the instance (opened in ${r.openSeconds.toFixed(1)} s), ${args.seconds} s at rest:`,
    `- CPU: ${r.open.cpuPct.toFixed(1)} % of one core (idle instance without them: ${r.before.cpuPct.toFixed(1)} %)`,
    `- RSS: ${r.open.rssMb.toFixed(0)} MB peak, ${r.rssAboveIdleMb.toFixed(0)} MB above the idle instance's ${r.before.rssMb.toFixed(0)} MB`,
    `- live JavaScript heap: ${r.open.heapMb.toFixed(0)} MB, ${r.heapAboveIdleMb.toFixed(0)} MB above the idle instance's ${r.before.heapMb.toFixed(0)} MB`,
    `- load average after: ${loadAverage()}`,
  ]
  fs.writeFileSync(path.join(out, 'result.json'), JSON.stringify({ stamp, ...r }, null, 2))
  console.log(`\n${lines.join('\n')}\n\nresults in ${path.relative(ROOT, out)}/`)
} finally {
  await web.stop(15_000)
  await db.end()
  redis.disconnect()
}
process.exit(0)
