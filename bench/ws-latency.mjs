#!/usr/bin/env node
// Purchase → result on the `order.onUpdate` subscription on a running stack, with the workers' own
// histograms beside it:
//   node bench/ws-latency.mjs --stack .stack/test [--shoppers 200] [--concurrency 10]
// Starts one web instance and two payment workers on the stack (which must run none of its own), gives
// the shoppers of DIR/bench-users.json (left by `npm run bench -- --stack DIR`) a subscription each,
// buys a warm-up coupon, then the measured one, with `--concurrency` purchases in flight, and prints the PENDING answer's and the
// pushed result's latency, then each worker's mean batch settle time (flash_settle_batch_seconds) and
// reservation → settled time (flash_settle_latency_seconds).
import '../scripts/lib/on-node24.mjs' // first: re-runs this script on Node 24 when started on an older Node
import fs from 'node:fs'
import path from 'node:path'
import { parseArgs } from 'node:util'
import mysql from 'mysql2/promise'
import Redis from 'ioredis'
import { openStack } from '../scripts/lib/stack.mjs'
import { createBenchCoupon } from './lib/coupons.mjs'
import { buyAndAwaitResults, histogramMeanMs, openResultSockets, settleHistograms } from './lib/results.mjs'
import { percentile, say, sleep } from './lib/util.mjs'

const { values: args } = parseArgs({
  options: {
    stack: { type: 'string' },
    shoppers: { type: 'string', default: '200' },
    concurrency: { type: 'string', default: '10' },
  },
})
if (!args.stack) throw new Error('--stack DIR is required (a running stack, e.g. .stack/test)')
const stack = openStack(path.resolve(args.stack))
const users = JSON.parse(fs.readFileSync(path.join(stack.dir, 'bench-users.json'), 'utf8'))
  .filter((u) => u.until > Date.now() + 60_000)
  .slice(-Number(args.shoppers))
const web = await stack.startWeb({ env: { PURCHASE_RATE_LIMIT: '1000000' } })
const workers = [await stack.startWorker({}), await stack.startWorker({})]
const db = mysql.createPool({ uri: stack.env.DATABASE_URL, connectionLimit: 2 })
const redis = new Redis(stack.env.REDIS_URL)
try {
  const coupon = (name) => createBenchCoupon(db, redis, { name, description: 'bench/ws-latency.mjs', stock: users.length, price: 1 })
  const warmUp = await coupon('Bench ws-latency warm-up')
  const couponId = await coupon('Bench ws-latency')
  await sleep(3000) // the workers join the group
  const sockets = await openResultSockets(web.url, users)
  // every shopper buys twice: the warm-up coupon (a cold instance's JIT, caches and the workers'
  // first batches are not what a purchase costs), then the measured one
  const buy = (id) => buyAndAwaitResults({ webUrl: web.url, users, sockets, couponId: id, concurrency: Number(args.concurrency) })
  await buy(warmUp)
  const before = await Promise.all(workers.map((w) => settleHistograms(w.metricsPort)))
  const { answered, pushed } = await buy(couponId)
  const after = await Promise.all(workers.map((w) => settleHistograms(w.metricsPort)))
  for (const s of sockets) s.close()
  for (const a of [answered, pushed]) a.sort((x, y) => x - y)
  const ms = (a, p) => percentile(a, p).toFixed(1)
  say(`PENDING answer p50 ${ms(answered, 50)} ms, p99 ${ms(answered, 99)} ms; result pushed p50 ${ms(pushed, 50)} ms, p99 ${ms(pushed, 99)} ms (${pushed.length}/${users.length})`)
  for (const [i, w] of workers.entries()) {
    const mean = (name) => histogramMeanMs(name, [after[i]], [before[i]]).toFixed(1)
    say(`worker :${w.metricsPort} (measured coupon only): batch settle ${mean('flash_settle_batch_seconds')} ms mean, reservation → settled ${mean('flash_settle_latency_seconds')} ms mean`)
  }
} finally {
  await web.stop()
  for (const w of workers) await w.stop()
  await db.end()
  redis.disconnect()
}
