#!/usr/bin/env node
// One payment worker settling a backlog, alone or as an A/B comparison:
//   node bench/settle.mjs --stack .stack/test [--rounds 3] [--users 2000] [--coupons 2]
//        [--a "K=V K=V"] [--b "K=V node:--v8-flag=N"]
// `npm run bench`'s "settlement, 1 payment worker (end to end)" on a running stack without workers:
// each round fills Kafka through a web instance (--coupons coupons, every shopper buying each once,
// no worker running), then starts one payment worker with the variant's environment and times it from
// its first MySQL commit until every order is settled and no reservation is pending in Redis. It
// prints payments/s, the worker's CPU µs per payment from the first commit (start-up and group join
// left out), MariaDB's, Redis' and Kafka's over the same span, and the mean payments per round.
// A variant is the worker's environment (K=V) and Node/V8 flags after the app's own (node:--flag=value).
// With --b, rounds alternate a, b, b, a… (as bench/pipeline.mjs); the median round of each is reported.
// Results: .bench/settle-<time>/{result.json,summary.md}.
import '../scripts/lib/on-node24.mjs' // first: re-runs this script on Node 24 when started on an older Node
import fs from 'node:fs'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { openStack } from '../scripts/lib/stack.mjs'
import { cpuSeconds, envFromPairs, loadAverage, peakRssMb, runWrk, say, sleep, withTicker } from './lib/util.mjs'
import { createBenchCoupon } from './lib/coupons.mjs'
import { abSession } from './lib/ab.mjs'

const { values: args } = parseArgs({ options: {
  stack: { type: 'string' }, rounds: { type: 'string', default: '1' }, users: { type: 'string', default: '2000' },
  coupons: { type: 'string', default: '2' }, a: { type: 'string', default: '' }, b: { type: 'string' },
} })
if (!args.stack) throw new Error('--stack DIR is required (a running stack without payment workers, e.g. .stack/test)')
const stack = openStack(path.resolve(args.stack))
if (Object.keys(stack.processes()).some((k) => k.startsWith('worker-'))) throw new Error('the stack runs payment workers: they would take the benchmark\'s events')
const USERS = Number(args.users)
/** A variant: `K=V` pairs for the worker's environment, and `node:--flag` words for its command line. */
function parseVariant(s) {
  const words = s.split(/\s+/).filter(Boolean)
  return {
    name: s || 'as built',
    env: envFromPairs(words.filter((w) => !w.startsWith('node:'))),
    nodeFlags: words.filter((w) => w.startsWith('node:')).map((w) => w.slice(5)),
  }
}
const variants = [parseVariant(args.a), ...(args.b !== undefined ? [parseVariant(args.b)] : [])]

const { outDir, db, redis, tokenFile, rounds } = await abSession(stack, 'settle', USERS)

const settledCount = async (coupons) =>
  Number((await db.query(`SELECT COUNT(*) AS n FROM orders WHERE coupon_id IN (?) AND status <> 'PENDING'`, [coupons]))[0][0].n)
const pendingCount = async (coupons) =>
  (await Promise.all(coupons.map((c) => redis.hlen(`coupon:{${c}}:pending`)))).reduce((a, b) => a + b, 0)
/** CPU seconds so far of the stack's MariaDB, Redis and Kafka. */
function storesCpu() {
  const services = stack.processes()
  return { MariaDB: cpuSeconds(services.mariadb?.pid), Redis: cpuSeconds(services.redis?.pid), Kafka: cpuSeconds(services.kafka?.pid) }
}
/** The worker's mean payments per settlement round so far (its flash_settle_batch_payments histogram). */
async function paymentsPerRound(worker) {
  const text = await (await fetch(`http://127.0.0.1:${worker.metricsPort}/metrics`)).text()
  const value = (name) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN)
  return value('flash_settle_batch_payments_sum') / value('flash_settle_batch_payments_count')
}

async function round(variant, r) {
  const web = await stack.startWeb({ env: { PURCHASE_RATE_LIMIT: '1000000' } })
  const coupons = []
  try {
    for (let i = 0; i < Number(args.coupons); i++) {
      coupons.push(await createBenchCoupon(db, redis, { name: `Bench settle ${r} ${i}`, description: 'bench/settle.mjs', stock: USERS }))
    }
    await runWrk({
      url: web.url, method: 'POST', path: '/api/trpc/order.purchase', tokenFile, coupons,
      limit: USERS * coupons.length, connections: 50, label: `filling Kafka (${variant.name})`,
    })
  } finally {
    await web.stop(15_000)
  }
  const expected = await pendingCount(coupons)
  const worker = await stack.startWorker({ env: variant.env, nodeFlags: variant.nodeFlags })
  try {
    let before
    while (!before) {
      const n = await settledCount(coupons)
      if (n > 0) before = { cpu: cpuSeconds(worker.pid), stores: storesCpu(), settled: n }
      else await sleep(5)
    }
    await withTicker(`round ${r + 1}: settling (${variant.name})`, (async () => {
      // polled as `npm run bench` does, so the polling's own queries weigh on MariaDB as little as there
      while ((await settledCount(coupons)) < expected || (await pendingCount(coupons)) > 0) await sleep(50)
    })())
    const end = Date.now()
    const measured = expected - before.settled
    const cpuUs = ((cpuSeconds(worker.pid) - before.cpu) / measured) * 1e6
    const after = storesCpu()
    const stores = Object.fromEntries(Object.entries(after).map(([k, v]) => [k, ((v - before.stores[k]) / measured) * 1e6]))
    const [[{ first }]] = await db.query('SELECT UNIX_TIMESTAMP(MIN(updated_at)) * 1000 AS first FROM orders WHERE coupon_id IN (?)', [coupons])
    const rate = expected / ((end - Number(first)) / 1000)
    const perRound = await paymentsPerRound(worker)
    const peakRss = peakRssMb(worker.pid)
    say(`  round ${r + 1} [${variant.name}] ${expected} payments, ${rate.toFixed(0)}/s; worker ${cpuUs.toFixed(0)} µs per payment, `
      + `${Object.entries(stores).map(([k, v]) => `${k} ${v.toFixed(0)}`).join(', ')}; ${perRound.toFixed(1)} payments per round; peak RSS ${peakRss.toFixed(0)} MB; load ${loadAverage().join(' ')}`)
    return {
      variant: variant.name, round: r + 1, log: worker.log, payments: expected, rate, workerUs: cpuUs, stores, perRound, peakRss,
      load: loadAverage(),
    }
  } finally {
    await worker.stop(15_000)
  }
}

const results = await rounds(variants, Number(args.rounds), round)
const lines = [`# One payment worker settling a backlog — ${new Date().toISOString()}`, '', `\`node bench/settle.mjs ${process.argv.slice(2).join(' ')}\`; load average at end ${loadAverage().join(' ')}.`, '']
lines.push('| variant | rounds (payments/s) | median payments/s | worker µs per payment | MariaDB µs | Redis µs | Kafka µs | payments per round | worker peak RSS MB |', '|---|---|---:|---:|---:|---:|---:|---:|---|')
for (const v of variants) {
  const mine = results.filter((x) => x.variant === v.name).sort((a, b) => a.rate - b.rate)
  const med = mine[Math.floor(mine.length / 2)]
  lines.push(`| ${v.name} | ${mine.map((x) => x.rate.toFixed(0)).join(', ')} | ${med.rate.toFixed(0)} | ${med.workerUs.toFixed(0)} | ${med.stores.MariaDB.toFixed(0)} | ${med.stores.Redis.toFixed(0)} | ${med.stores.Kafka.toFixed(0)} | ${med.perRound.toFixed(1)} | ${mine.map((x) => x.peakRss.toFixed(0)).join(', ')} |`)
}
fs.writeFileSync(path.join(outDir, 'result.json'), JSON.stringify(results, null, 2))
fs.writeFileSync(path.join(outDir, 'summary.md'), lines.join('\n'))
say(lines.join('\n'))
say(`results: ${path.relative(process.cwd(), outDir)}/`)
