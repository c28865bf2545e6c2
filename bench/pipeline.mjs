#!/usr/bin/env node
// The whole pipeline's cost per purchase on a running stack, alone or as an A/B comparison:
//   node bench/pipeline.mjs --stack .stack/test [--rounds 3] [--duration 6] [--connections 50]
//        [--users 2000] [--a "K=V K=V"] [--b "K=V web:K=V nginx:unix"]
// Each round starts one web instance and two payment workers with the variant's environment (both
// read the same configuration; a pair written web:K=V is given to the web instance only), NGINX in
// front (the product's config, rate limits lifted; `nginx:unix` has NGINX reach the instance on a
// Unix socket instead of TCP, bench/lib/unix-listener.mjs), shows the instance every shopper's token on
// warm-up coupons and settles them, then runs `npm run bench`'s "through NGINX, 1 web instance"
// load: every request a new (shopper, coupon) pair for --duration seconds. It prints each part's
// CPU µs per accepted purchase (counted until the run's purchases are all settled), the Kafka
// requests per purchase by API and the batch sizes (bench/lib/pipeline.mjs), and the peak RSS of
// the web instance and the workers over the round (warm-up, run and settling).
// With --b, rounds alternate a, b, b, a, a, b… so both see the same machine and each goes first as
// often as second; the median round of each is reported.
// Results: .bench/pipeline-<time>/{result.json,summary.md}.
import '../scripts/lib/on-node24.mjs' // first: re-runs this script on Node 24 when started on an older Node
import fs from 'node:fs'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { freePort } from '../scripts/lib/util.mjs'
import {
  ROOT, envFromPairs, loadAverage, peakRssMb, runWrk, say, withChildren, withTicker,
} from './lib/util.mjs'
import { createBenchCoupon } from './lib/coupons.mjs'
import { abSession, abVariants, medianRound, openAbStack } from './lib/ab.mjs'
import { costMarkdown, costNote, kafkaMarkdown, measurePipeline, redisMarkdown } from './lib/pipeline.mjs'

const { values: args } = parseArgs({ options: {
  stack: { type: 'string' }, rounds: { type: 'string', default: '1' }, duration: { type: 'string', default: '6' },
  connections: { type: 'string', default: '50' }, users: { type: 'string', default: '2000' },
  a: { type: 'string', default: '' }, b: { type: 'string' }, coupons: { type: 'string', default: '40' },
} })
const stack = openAbStack(args.stack)
const USERS = Number(args.users)
/**
 * A variant's environment: `K=V` for every process, `web:K=V` for the web instance only; `nginx:unix`
 * has NGINX reach the web instance on a Unix socket.
 */
function parseEnv(s) {
  const words = s.split(/\s+/).filter(Boolean)
  const unix = words.includes('nginx:unix')
  const pairs = words.filter((p) => p !== 'nginx:unix')
  const webOnly = pairs.filter((p) => p.startsWith('web:'))
  return { unix, env: envFromPairs(pairs.filter((p) => !webOnly.includes(p))), webEnv: envFromPairs(webOnly.map((p) => p.slice(4))) }
}
const variants = abVariants(args, parseEnv)

const { outDir, db, redis, tokenFile, settled, rounds, report } = await abSession(stack, 'pipeline', USERS)
const purchasePath = '/api/trpc/order.purchase'
/** The `nginx:unix` variant's socket, and the preload that has the web instance listen on it. */
const unixSocket = path.join(outDir, 'web.sock')
const UNIX_LISTENER = pathToFileURL(path.join(ROOT, 'bench', 'lib', 'unix-listener.mjs'))
const coupon = (name) => createBenchCoupon(db, redis, { name: `Bench pipeline ${name}`, description: 'bench/pipeline.mjs', stock: USERS })

async function round(variant, r) {
  const unixEnv = variant.unix
    ? { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import=${UNIX_LISTENER}`.trim(), BENCH_UNIX_SOCKET: unixSocket }
    : {}
  const procEnv = { PURCHASE_RATE_LIMIT: '1000000', ...variant.env, ...variant.webEnv, ...unixEnv }
  const web = await stack.startWeb({ env: procEnv })
  const workers = [await stack.startWorker({ env: variant.env }), await stack.startWorker({ env: variant.env })]
  const port = await freePort()
  const lifted = { purchaseRate: 1e6, purchaseBurst: 1e6, addressPurchaseRate: 1e6, addressPurchaseBurst: 1e6 }
  const upstreams = [variant.unix ? `unix:${unixSocket}` : web.port]
  const nginx = await stack.startNginx({ name: 'pipeline-nginx', port, upstreams, accessLog: false, ...lifted })
  try {
    const warm = [await coupon('warm-up'), await coupon('warm-up')]
    const w = await runWrk({
      url: nginx.url,
      method: 'POST',
      path: purchasePath,
      tokenFile,
      coupons: warm,
      limit: USERS * warm.length,
      connections: Number(args.connections),
      label: `warm-up (${variant.name})`,
    })
    await withTicker('settling the warm-up', settled(warm, w.codes?.['200'] ?? 0))
    const coupons = []
    for (let i = 0; i < Number(args.coupons); i++) coupons.push(await coupon(`run ${i}`))
    const services = stack.processes()
    const p = await measurePipeline({
      groups: {
        web: web.pid, NGINX: withChildren(Number(fs.readFileSync(path.join(stack.dir, 'pipeline-nginx', 'nginx.pid'), 'utf8'))),
        workers: workers.map((x) => x.pid), Redis: services.redis?.pid, Kafka: services.kafka?.pid, MariaDB: services.mariadb?.pid,
      },
      metricsUrls: [`${web.url}/metrics`, ...workers.map((x) => `http://127.0.0.1:${x.metricsPort}/metrics`)],
      run: () =>
        runWrk({
          url: nginx.url,
          method: 'POST',
          path: purchasePath,
          tokenFile,
          coupons,
          duration: Number(args.duration),
          connections: Number(args.connections),
          serverPid: web.pid,
          label: `round ${r + 1}: ${variant.name}`,
        }),
      settle: (res) => withTicker('settling', settled(coupons, res.codes?.['200'] ?? 0)),
      redis,
    })
    const peakRss = { web: peakRssMb(web.pid), workers: workers.map((x) => peakRssMb(x.pid)) }
    say(`  round ${r + 1} [${variant.name}] ${Math.round(p.run.rps)} purchases/s, p50 ${p.run.p50.toFixed(1)} ms, p99 ${p.run.p99.toFixed(1)} ms; ${costNote(p)}; settled ${p.settleTailSeconds.toFixed(1)} s after the run; peak RSS ${rssNote(peakRss)}; load ${loadAverage().join(' ')}`)
    return { variant: variant.name, round: r + 1, load: loadAverage(), peakRss, ...p }
  } finally {
    await stack.stopNginx('pipeline-nginx')
    for (const x of [web, ...workers]) await x.stop(15_000)
  }
}

function rssNote({ web, workers }) {
  return `web ${web.toFixed(0)} MB, workers ${workers.map((w) => w.toFixed(0)).join(' / ')} MB`
}

const results = await rounds(variants, Number(args.rounds), round)
const lines = [`# Pipeline cost per purchase — ${new Date().toISOString()}`, '', `\`node bench/pipeline.mjs ${process.argv.slice(2).join(' ')}\`; load average at end ${loadAverage().join(' ')}.`, '']
for (const v of variants) {
  const { mine, med } = medianRound(results, v.name, (x) => x.totalUs)
  lines.push(
    `## ${v.name}`, '',
    `Rounds (µs per purchase, purchases/s): ${mine.map((x) => `${x.totalUs.toFixed(0)} µs at ${x.run.rps.toFixed(0)}/s (load ${x.load[0]})`).join('; ')}. Median round ${med.round}:`, '',
    costMarkdown(med), '',
    `Peak RSS over each round: ${mine.map((x) => rssNote(x.peakRss)).join('; ')}.`, '',
    kafkaMarkdown(med), '', redisMarkdown(med), '',
  )
}
report(results, lines)
