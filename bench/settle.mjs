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
import { parseArgs } from 'node:util'
import { cpuSeconds, envFromPairs, loadAverage, peakRssMb, runWrk, say, storesCpu, withTicker } from './lib/util.mjs'
import { createBenchCoupon } from './lib/coupons.mjs'
import { abSession, abVariants, medianRound, openAbStack } from './lib/ab.mjs'

const { values: args } = parseArgs({ options: {
  stack: { type: 'string' }, rounds: { type: 'string', default: '1' }, users: { type: 'string', default: '2000' },
  coupons: { type: 'string', default: '2' }, a: { type: 'string', default: '' }, b: { type: 'string' },
} })
const stack = openAbStack(args.stack)
const USERS = Number(args.users)
/** A variant: `K=V` pairs for the worker's environment, and `node:--flag` words for its command line. */
function parseVariant(s) {
  const words = s.split(/\s+/).filter(Boolean)
  return {
    env: envFromPairs(words.filter((w) => !w.startsWith('node:'))),
    nodeFlags: words.filter((w) => w.startsWith('node:')).map((w) => w.slice(5)),
  }
}
const variants = abVariants(args, parseVariant)

const { db, redis, tokenFile, pending, firstCommit, settled, rounds, report } = await abSession(stack, 'settle', USERS)

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
  const expected = await pending(coupons)
  const worker = await stack.startWorker({ env: variant.env, nodeFlags: variant.nodeFlags })
  try {
    const firstRound = await firstCommit(coupons)
    const before = { cpu: cpuSeconds(worker.pid), stores: storesCpu(stack), settled: firstRound }
    const end = await withTicker(`round ${r + 1}: settling (${variant.name})`, settled(coupons, expected))
    const measured = expected - before.settled
    const cpuUs = ((cpuSeconds(worker.pid) - before.cpu) / measured) * 1e6
    const after = storesCpu(stack)
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
  const { mine, med } = medianRound(results, v.name, (x) => x.rate)
  lines.push(`| ${v.name} | ${mine.map((x) => x.rate.toFixed(0)).join(', ')} | ${med.rate.toFixed(0)} | ${med.workerUs.toFixed(0)} | ${med.stores.MariaDB.toFixed(0)} | ${med.stores.Redis.toFixed(0)} | ${med.stores.Kafka.toFixed(0)} | ${med.perRound.toFixed(1)} | ${mine.map((x) => x.peakRss.toFixed(0)).join(', ')} |`)
}
report(results, lines)
