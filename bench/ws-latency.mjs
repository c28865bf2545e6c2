#!/usr/bin/env node
// Purchase → WebSocket result on a running stack, with the workers' own histograms beside it:
//   node bench/ws-latency.mjs --stack .stack/test [--shoppers 200] [--concurrency 10]
// Starts one web instance and two payment workers on the stack (which must run none of its own), gives
// the shoppers of DIR/bench-users.json (left by `npm run bench -- --stack DIR`) an open /ws each,
// buys a warm-up coupon, then the measured one, with `--concurrency` purchases in flight, and prints the PENDING answer's and the
// pushed result's latency, then each worker's mean batch settle time (flash_settle_batch_seconds) and
// reservation → settled time (flash_settle_latency_seconds).
import '../scripts/lib/on-node24.mjs' // first: re-runs this script on Node 24 when started on an older Node
import fs from 'node:fs'
import path from 'node:path'
import { parseArgs } from 'node:util'
import mysql from 'mysql2/promise'
import Redis from 'ioredis'
import WebSocket from 'ws'
import { openStack } from '../scripts/lib/stack.mjs'
import { percentile, say, sleep } from './lib/util.mjs'

const { values: args } = parseArgs({ options: { stack: { type: 'string' }, shoppers: { type: 'string', default: '200' }, concurrency: { type: 'string', default: '10' } } })
if (!args.stack) throw new Error('--stack DIR is required (a running stack, e.g. .stack/test)')
const stack = openStack(path.resolve(args.stack))
const users = JSON.parse(fs.readFileSync(path.join(stack.dir, 'bench-users.json'), 'utf8')).filter((u) => u.until > Date.now() + 60_000).slice(-Number(args.shoppers))
const web = await stack.startWeb({ env: { PURCHASE_RATE_LIMIT: '1000000' } })
const workers = [await stack.startWorker({}), await stack.startWorker({})]
const db = mysql.createPool({ uri: stack.env.DATABASE_URL, connectionLimit: 2 })
const redis = new Redis(stack.env.REDIS_URL)
/** Sum and count of the two settlement histograms on a worker's /metrics. */
async function histogramTotals(metricsPort) {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text()
  const v = (name, suffix) => Number(text.split('\n').find((l) => l.startsWith(`${name}_${suffix}`))?.split(' ').at(-1) ?? 0)
  return Object.fromEntries(['flash_settle_batch_seconds', 'flash_settle_latency_seconds'].map((n) => [n, { sum: v(n, 'sum'), count: v(n, 'count') }]))
}

try {
  const coupon = async (name) => {
    const [res] = await db.query('INSERT INTO coupons (name, description, price, total_stock, stock, sale_starts_at, sale_ends_at) VALUES (?, ?, 1, ?, ?, NOW(3) - INTERVAL 1 SECOND, NOW(3) + INTERVAL 3 HOUR)', [name, 'bench/ws-latency.mjs', users.length, users.length])
    await redis.multi().set(`coupon:{${res.insertId}}:stock`, users.length, 'NX').set(`coupon:{${res.insertId}}:loaded`, new Date().toISOString()).exec()
    return res.insertId
  }
  const warmUp = await coupon('Bench ws-latency warm-up')
  const couponId = await coupon('Bench ws-latency')
  await sleep(3000) // the workers join the group
  const sockets = await Promise.all(users.map((u) => new Promise((resolve, reject) => {
    const ws = new WebSocket(`${web.url.replace('http', 'ws')}/ws?access_token=${u.token}`)
    ws.on('error', reject)
    ws.arrivals = new Map()
    ws.on('message', (data) => {
      const msg = JSON.parse(String(data))
      if (msg.type === 'hello') resolve(ws)
      if (msg.type === 'order.updated') ws.arrivals.set(msg.orderId, process.hrtime.bigint())
    })
  })))
  // every shopper buys twice: the warm-up coupon (a cold instance's JIT, caches and the workers'
  // first batches are not what a purchase costs), then the measured one
  const buyAll = async (id, answered = [], pushed = []) => {
    let next = 0
    await Promise.all(Array.from({ length: Number(args.concurrency) }, async () => {
      while (next < users.length) {
        const i = next++
        const t0 = process.hrtime.bigint()
        const r = await fetch(`${web.url}/api/trpc/order.purchase`, { method: 'POST', headers: { authorization: `Bearer ${users[i].token}`, 'content-type': 'application/json' }, body: JSON.stringify({ couponId: id }) })
        const orderId = (await r.json()).result?.data?.orderId
        answered.push(Number(process.hrtime.bigint() - t0) / 1e6)
        if (!orderId) continue
        for (let k = 0; k < 1000 && !sockets[i].arrivals.has(orderId); k++) await sleep(2)
        const at = sockets[i].arrivals.get(orderId)
        if (at) pushed.push(Number(at - t0) / 1e6)
      }
    }))
    return { answered, pushed }
  }
  await buyAll(warmUp)
  const before = await Promise.all(workers.map((w) => histogramTotals(w.metricsPort)))
  const { answered, pushed } = await buyAll(couponId)
  for (const s of sockets) s.close()
  for (const a of [answered, pushed]) a.sort((x, y) => x - y)
  const ms = (a, p) => percentile(a, p).toFixed(1)
  say(`PENDING answer p50 ${ms(answered, 50)} ms, p99 ${ms(answered, 99)} ms; result pushed p50 ${ms(pushed, 50)} ms, p99 ${ms(pushed, 99)} ms (${pushed.length}/${users.length})`)
  for (const [i, w] of workers.entries()) {
    const after = await histogramTotals(w.metricsPort)
    const mean = (name) => (((after[name].sum - before[i][name].sum) / (after[name].count - before[i][name].count)) * 1000).toFixed(1)
    say(`worker :${w.metricsPort} (measured coupon only): batch settle ${mean('flash_settle_batch_seconds')} ms mean, reservation → settled ${mean('flash_settle_latency_seconds')} ms mean`)
  }
} finally {
  await web.stop()
  for (const w of workers) await w.stop()
  await db.end()
  redis.disconnect()
}
