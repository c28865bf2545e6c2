#!/usr/bin/env node
// A fresh web instance's memory through its first load: started on a running stack, idle a second,
// then `npm run bench`'s first two loads on it — Nitro's /healthz, then the tRPC ping, --seconds each
// (wrk, 50 connections, direct) — and its peak RSS (VmHWM) after each. The variants of --a / --b
// (the web's environment, `K=V K=V`) alternate a, b, b, a… for --rounds pairs.
//
//   npm run build && node scripts/stack.mjs up test
//   node bench/first-load.mjs --stack .stack/test [--rounds 2] [--seconds 6] [--a "K=V"] [--b "K=V"]
import '../scripts/lib/on-node24.mjs' // first: re-runs this script on Node 24 when started on an older Node
import path from 'node:path'
import { parseArgs } from 'node:util'
import { openStack } from '../scripts/lib/stack.mjs'
import { alternating, envFromPairs, peakRssMb, runWrk, say, sleep } from './lib/util.mjs'

const { values: args } = parseArgs({ options: {
  stack: { type: 'string' }, rounds: { type: 'string', default: '2' }, seconds: { type: 'string', default: '6' },
  a: { type: 'string', default: '' }, b: { type: 'string' },
} })
if (!args.stack) throw new Error('--stack DIR is required (a running stack, e.g. .stack/test)')
const stack = openStack(path.resolve(args.stack))
const variants = [args.a, ...(args.b === undefined ? [] : [args.b])]
const duration = Number(args.seconds)

for (const [variant] of alternating(variants, Number(args.rounds))) {
  const web = await stack.startWeb({ env: envFromPairs(variant.split(/\s+/).filter(Boolean)) })
  try {
    await sleep(1000)
    const idle = peakRssMb(web.pid)
    const healthz = await runWrk({ url: web.url, path: '/healthz', duration })
    const afterHealthz = peakRssMb(web.pid)
    const ping = await runWrk({ url: web.url, path: '/api/trpc/system.ping', duration })
    say(`${variant || '(as built)'}: peak RSS ${idle.toFixed(0)} MB idle, ${afterHealthz.toFixed(0)} after /healthz, ${peakRssMb(web.pid).toFixed(0)} after the ping (${Math.round(healthz.rps)} / ${Math.round(ping.rps)} req/s)`)
  } finally {
    await web.stop()
  }
}
