#!/usr/bin/env node
// What the system costs with nobody buying: one web instance and --workers payment workers started on
// a running stack without workers, left alone for --settle seconds, then each process's CPU (% of a
// core) over --seconds: the web, each worker (the first to start holds the reconciler's lease and runs
// its passes, the others only consume), Redis, MariaDB and Kafka. What a process spends at rest it
// spends under load too, so it shows up in every µs-per-purchase figure.
//
//   npm run build && node scripts/stack.mjs up test
//   node bench/idle.mjs --stack .stack/test [--workers 2] [--seconds 20] [--settle 8] [--env NAME=value …]
import '../scripts/lib/on-node24.mjs' // first: re-runs this script on Node 24 when started on an older Node
import path from 'node:path'
import { parseArgs } from 'node:util'
import { openStack } from '../scripts/lib/stack.mjs'
import { cpuSecondsOf, envFromPairs, say, sleep } from './lib/util.mjs'

const { values: args } = parseArgs({ options: {
  stack: { type: 'string' }, workers: { type: 'string', default: '2' }, seconds: { type: 'string', default: '20' },
  settle: { type: 'string', default: '8' }, env: { type: 'string', multiple: true, default: [] },
} })
if (!args.stack) throw new Error('--stack DIR is required (a running stack without payment workers, e.g. .stack/test)')
const stack = openStack(path.resolve(args.stack))
if (Object.keys(stack.processes()).some((k) => k.startsWith('worker-'))) throw new Error('the stack runs payment workers: start this on a stack without them')
const env = envFromPairs(args.env)

const started = []
try {
  const web = await stack.startWeb({ env })
  started.push(web)
  await fetch(`${web.url}/api/trpc/coupon.list?input=${encodeURIComponent('{"page":1,"pageSize":12}')}`) // connects its clients
  for (let i = 0; i < Number(args.workers); i++) started.push(await stack.startWorker({ env })) // one at a time: the first takes the lease
  await sleep(Number(args.settle) * 1000)
  const services = stack.processes()
  const groups = {
    web: web.pid,
    ...Object.fromEntries(started.slice(1).map((w, i) => [`worker ${i + 1}${i === 0 ? ' (reconciler)' : ''}`, w.pid])),
    Redis: services.redis?.pid, MariaDB: services.mariadb?.pid, Kafka: services.kafka?.pid,
  }
  const seconds = Number(args.seconds)
  const before = Object.fromEntries(Object.entries(groups).map(([k, pid]) => [k, cpuSecondsOf(pid)]))
  await sleep(seconds * 1000)
  const pct = Object.fromEntries(Object.entries(groups).map(([k, pid]) => [k, ((cpuSecondsOf(pid) - before[k]) / seconds) * 100]))
  const total = Object.values(pct).reduce((a, b) => a + b, 0)
  say(`at rest for ${args.seconds}s (% of a core): ${Object.entries(pct).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ')}; all ${total.toFixed(1)}`)
} finally {
  for (const p of started.reverse()) await p.stop()
}
