#!/usr/bin/env node
// The capacity plan: from the per-core figures a benchmark run measured, what a sale of N purchase
// attempts a second at opening needs — web instances, Redis shards, Kafka partitions, payment
// workers — and which part gives out first. The plan moves when the figures do: rerun it on each
// new result.
//
//   node bench/capacity.mjs [.bench/<run>/result.json | bench/RESULTS.md] [--attempts 100000]
//        [--stock 10000] [--coupons 1] [--settle-within 10] [--utilization 0.7] [--json]
//   node bench/capacity.mjs bench/RESULTS.md --room [--shoppers 1000000] [--join-within 60]
//        [--places-within 20] [--admit 1000]           a sale behind the waiting room instead
//   node bench/capacity.mjs bench/RESULTS.md --write   rewrite the generated blocks of docs/capacity.md
//
// Input: a run's result.json, or the summary.md it wrote (bench/RESULTS.md is one); default the
// newest .bench/*/result.json, else bench/RESULTS.md. Output: a Markdown table (docs/capacity.md is
// this script's output for bench/RESULTS.md) or, with --json, the numbers.
import fs from 'node:fs'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { fileURLToPath } from 'node:url'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

/** The scenarios of a summary.md ("## Scenarios" table) in result.json's shape. */
export function scenariosFromSummary(text) {
  const rows = text.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| scenario') && !l.startsWith('|---'))
  const num = (cell) => {
    const m = /^([\d,.]+)/.exec(cell.trim())
    return m ? Number(m[1].replace(/,/g, '')) : undefined
  }
  return rows.map((line) => line.split('|').slice(1, -1).map((c) => c.trim())).filter((cells) => cells.length === 9).map((cells) => ({
    name: cells[0], rps: num(cells[1]), perCpuSecond: num(cells[2]), p99: num(cells[5]), note: cells[6],
  }))
}

export function loadScenarios(file) {
  const text = fs.readFileSync(file, 'utf8')
  return file.endsWith('.json') ? JSON.parse(text).scenarios : scenariosFromSummary(text)
}

function newestResult() {
  const dir = path.join(ROOT, '.bench')
  const runs = fs.existsSync(dir) ? fs.readdirSync(dir).filter((d) => fs.existsSync(path.join(dir, d, 'result.json'))).sort() : []
  return runs.length ? path.join(dir, runs.at(-1), 'result.json') : path.join(ROOT, 'bench', 'RESULTS.md')
}

function find(scenarios, prefix) {
  const s = scenarios.find((x) => x.name.startsWith(prefix))
  if (!s) throw new Error(`the benchmark result has no "${prefix}…" scenario`)
  return s
}

/**
 * The model. Per core (one web instance is one Node process, one core): reservations run at the
 * purchase burst's requests per CPU-second, refusals after the stock is gone at the sold-out storm's.
 * A coupon's keys share one Redis Cluster slot, so one hot coupon is served by one Redis master at the
 * measured reserve-script rate, however many shards there are; shards only spread different coupons.
 * Settlement: the measured end-to-end payments/s per worker; MySQL is shared, so the 2-worker figure
 * over the 1-worker figure says how much a worker adds.
 */
export function plan(scenarios, { attempts = 100_000, stock = 10_000, coupons = 1, settleWithin = 10, utilization = 0.7 } = {}) {
  const firstSight = find(scenarios, 'order.purchase burst, ') // tokens new to the instance
  const cached = find(scenarios, 'order.purchase burst, same shoppers')
  const storm = find(scenarios, 'order.purchase sold-out storm')
  const lua = find(scenarios, 'Redis+Lua reserve')
  const one = find(scenarios, 'settlement, 1 payment worker')
  const two = find(scenarios, 'settlement, 2 payment workers')
  const perCore = (s) => s.perCpuSecond ?? s.rps

  // The opening second: every shopper's token is new to the instance that takes it.
  const reservations = Math.min(stock, attempts)
  const refusals = attempts - reservations
  const coresFirstSecond = reservations / perCore(firstSight) + refusals / perCore(storm)
  const coresAfter = attempts / perCore(storm) // stock gone: every attempt is a cheap refusal
  const coresCached = Math.min(attempts, stock) / perCore(cached) + refusals / perCore(storm)
  const web = Math.ceil(coresFirstSecond / utilization)

  // Redis: until the stock is gone, attempts on a coupon reach its master (the local sold-out flag
  // answers the rest). Hot coupons spread over masters; one coupon cannot.
  const redisPerMaster = lua.rps * utilization
  const perCouponLoad = attempts / coupons
  const redisShards = Math.max(1, Math.ceil(attempts / redisPerMaster))
  const hotCouponFits = perCouponLoad <= redisPerMaster

  // Settlement: the stock sells within the opening seconds; every unit is one payment to settle.
  const perWorker = one.rps
  const addedPerWorker = Math.max(0, two.rps - one.rps)
  const needed = reservations / settleWithin
  // At least two, so settlement survives one worker's loss; no more than two when the run's second
  // worker added nothing (then MySQL sets the pace, and settlement is the limit past one worker's rate).
  const workers = Math.max(2, needed <= perWorker || addedPerWorker === 0 ? 1 : 1 + Math.ceil((needed - perWorker) / addedPerWorker))
  const partitions = Math.max(12, 2 * workers)

  const limits = [
    { part: `one hot coupon's Redis master (${fmt(lua.rps)} reserve scripts/s measured)`, at: lua.rps },
    { part: `web CPU at opening (${fmt(perCore(firstSight))} first-sight purchases per core-second)`, at: web * perCore(firstSight) * utilization },
    { part: `settlement (${fmt(perWorker)} payments/s with 1 worker, +${fmt(addedPerWorker)} with a 2nd: MySQL-bound)`, at: perWorker + addedPerWorker * (workers - 1) },
  ]
  const breaksFirst = hotCouponFits
    ? (needed > perWorker + addedPerWorker * 11 ? limits[2] : limits[1])
    : limits[0]

  return {
    inputs: { attempts, stock, coupons, settleWithin, utilization },
    measured: {
      purchaseFirstSightPerCore: perCore(firstSight), purchaseCachedPerCore: perCore(cached), soldOutPerCore: perCore(storm),
      reserveScriptsPerSecond: lua.rps, settleOneWorker: one.rps, settleTwoWorkers: two.rps,
    },
    web: { instances: web, coresFirstSecond, coresCached, coresAfterSoldOut: coresAfter },
    redis: { shards: redisShards, perMaster: redisPerMaster, hotCouponLoad: perCouponLoad, hotCouponFits },
    kafka: { partitions },
    workers: { count: workers, neededPaymentsPerSecond: needed },
    breaksFirst: breaksFirst.part,
  }
}

/** The first number in a scenario's note after `label` (e.g. "Redis 44.2 µs"), or undefined. */
function noted(s, label) {
  const m = new RegExp(`${label} ([\\d.,]+)`).exec(s?.note ?? '')
  return m ? Number(m[1].replace(/,/g, '')) : undefined
}

/**
 * A sale behind the waiting room (docs/architecture.md, "The waiting room"): `shoppers` join within
 * `joinWithin` seconds before the opening; at the opening every waiting instance reads each of its
 * shoppers' places once, spread over `placesWithin` seconds; then shoppers are admitted at
 * `admitPerSecond`, and only they reach the reserve script. Everything on the hot coupon is in its one
 * Redis slot, so the question is whether one master carries the joins, the opening's reads and the
 * admitted purchases; web instances carry the joins and the waiting shoppers' position updates.
 */
export function roomPlan(
  scenarios,
  {
    shoppers = 1_000_000,
    joinWithin = 60,
    placesWithin = 20,
    admitPerSecond = 1_000,
    utilization = 0.7,
    subscriptionsPerInstance = 20_000,
  } = {},
) {
  const script = find(scenarios, 'queue-join script')
  const http = find(scenarios, 'queue.join through HTTP')
  const entry = find(scenarios, 'queue-entry script')
  const memory = find(scenarios, 'waiting-room line in Redis')
  const updates = scenarios.find((x) => x.name.startsWith('queue.onStatus position updates'))
  const lua = find(scenarios, 'Redis+Lua reserve')
  const redisUsPerJoin = noted(http, 'Redis') ?? noted(script, 'Redis CPU')
  const mariadbUsPerJoin = noted(http, 'MariaDB')
  const redisUsPerRead = noted(entry, 'Redis CPU')

  const joinsPerSecond = shoppers / joinWithin
  const readsPerSecond = shoppers / placesWithin
  // one master's core: the busiest second of each phase, as a share of a core
  const redisJoinPhase = joinsPerSecond * redisUsPerJoin / 1e6
  const redisOpening = readsPerSecond * redisUsPerRead / 1e6 + admitPerSecond * 2 / lua.rps // reserve + gate per admitted shopper
  const redisPeak = Math.max(redisJoinPhase, redisOpening)
  const webJoin = Math.ceil(joinsPerSecond / (http.perCpuSecond ?? http.rps) / utilization)
  const updatesPerCore = updates ? (updates.perCpuSecond ?? updates.rps) : undefined
  // one subscription per waiting shopper, each updated about once a second; an instance holds at most
  // WS_MAX_SUBSCRIPTIONS (default 20,000) of them, whatever its CPU could do
  const webWaitingCpu = updatesPerCore ? Math.ceil(shoppers / updatesPerCore / utilization) : undefined
  const webWaiting = webWaitingCpu === undefined ? undefined : Math.max(webWaitingCpu, Math.ceil(shoppers / subscriptionsPerInstance))
  return {
    inputs: { shoppers, joinWithin, placesWithin, admitPerSecond, utilization, subscriptionsPerInstance },
    measured: {
      redisUsPerJoin,
      mariadbUsPerJoin,
      redisUsPerRead,
      joinsPerCore: http.perCpuSecond ?? http.rps,
      scriptJoins: script.rps,
      bytesPerPlace: memory.rps,
      updatesPerCore,
      reserveScriptsPerSecond: lua.rps,
    },
    redis: { joinPhase: redisJoinPhase, opening: redisOpening, fits: redisPeak <= utilization, memoryMb: shoppers * memory.rps / 1e6 },
    mysql: { coresJoinPhase: joinsPerSecond * (mariadbUsPerJoin ?? 0) / 1e6 },
    web: { joinPhase: webJoin, waiting: webWaiting, waitingByCpu: webWaitingCpu },
    reserveScriptsPerSecond: admitPerSecond,
  }
}

export function roomMarkdown(p, source) {
  const { inputs: i, measured: m } = p
  const pct = (x) => `${fmt(x * 100)} %`
  return [
    `Capacity plan for **${fmt(i.shoppers)} shoppers on one coupon behind its waiting room**: they join within ${i.joinWithin} s before the opening, their places are read within ${i.placesWithin} s of it, ${fmt(i.admitPerSecond)} are admitted a second, machines run at ≤ ${Math.round(i.utilization * 100)} % (\`node bench/capacity.mjs ${source} --room\`).`,
    '',
    '| part | needs | from the measured figure |',
    '|---|---:|---|',
    `| the coupon's Redis master | **${p.redis.fits ? 'one: fits' : 'does not fit'}** (busiest second ${pct(Math.max(p.redis.joinPhase, p.redis.opening))} of a core) | joins: ${fmt(i.shoppers / i.joinWithin)}/s × ${fmt(m.redisUsPerJoin, 1)} µs of Redis CPU per HTTP join = ${pct(p.redis.joinPhase)}; opening: ${fmt(i.shoppers / i.placesWithin)} place reads/s × ${fmt(m.redisUsPerRead, 1)} µs + ${fmt(i.admitPerSecond)} admitted purchases/s (gate and reserve script, ${fmt(1e6 / m.reserveScriptsPerSecond, 1)} µs each at the measured script rate) = ${pct(p.redis.opening)}; the reserve script runs ${fmt(p.reserveScriptsPerSecond)} times a second instead of once per attempt |`,
    `| Redis memory for the line | **${fmt(p.redis.memoryMb)} MB** | ${fmt(m.bytesPerPlace, 1)} bytes per place (MEMORY USAGE of the benchmark's line); the line lives as long as the sale plus a day |`,
    `| web instances while shoppers join | **${fmt(p.web.joinPhase)}** | ${fmt(m.joinsPerCore)} joins per core-second through HTTP (tokens new to the instance, the place recorded in MySQL) |`,
    `| web instances while shoppers wait | ${p.web.waiting === undefined ? 'not measured yet' : `**${fmt(p.web.waiting)}**`} | ${m.updatesPerCore === undefined ? 'the position updates of queue.onStatus are not in this result' : `${fmt(m.updatesPerCore)} position updates per core-second, one a second per waiting shopper: ${fmt(p.web.waitingByCpu)} instances by CPU; at most ${fmt(i.subscriptionsPerInstance)} subscriptions per instance (\`WS_MAX_SUBSCRIPTIONS\`) makes it ${fmt(p.web.waiting)}`} |`,
    `| MySQL while shoppers join | **${fmt(p.mysql.coresJoinPhase, 1)} core(s)** | ${fmt(m.mariadbUsPerJoin)} µs of MariaDB CPU per join (places recorded in batches of a few milliseconds) |`,
  ].join('\n')
}
const fmt = (n, d = 0) => (n === undefined || Number.isNaN(n) ? '–' : Number(n).toLocaleString('en-US', { maximumFractionDigits: d }))

export function markdown(p, source) {
  const { inputs: i, measured: m } = p
  return [
    `Capacity plan for **${fmt(i.attempts)} purchase attempts/s at opening**, ${fmt(i.stock)} units on ${i.coupons} coupon(s), stock settled within ${i.settleWithin} s, machines run at ≤ ${Math.round(i.utilization * 100)} % (\`node bench/capacity.mjs ${source}\`).`,
    '',
    '| part | needs | from the measured figure |',
    '|---|---:|---|',
    `| web instances (1 core each) | **${fmt(p.web.instances)}** | opening second: ${fmt(i.stock)} reservations at ${fmt(m.purchaseFirstSightPerCore)}/core-s (tokens new to the instance) + ${fmt(i.attempts - Math.min(i.stock, i.attempts))} refusals at ${fmt(m.soldOutPerCore)}/core-s = ${fmt(p.web.coresFirstSecond, 1)} cores; with tokens cached ${fmt(p.web.coresCached, 1)}; once sold out ${fmt(p.web.coresAfterSoldOut, 1)} |`,
    `| Redis masters (shards) | **${fmt(p.redis.shards)}** | ${fmt(m.reserveScriptsPerSecond)} reserve scripts/s per master measured, ${fmt(p.redis.perMaster)} at the utilization; a coupon lives in one slot, so one coupon takes at most one master; until its reservations are settled, its refusals come from Redis (TRY_AGAIN_LATER), not the local sold-out flag: ${fmt(p.redis.hotCouponLoad)} attempts/s on the hottest coupon ${p.redis.hotCouponFits ? 'fit' : '**do not fit**'} |`,
    `| Kafka partitions (payment-requests) | **${fmt(p.kafka.partitions)}** | at least 12, and twice the workers so KEDA can add more; not measured here: one broker's produce rate was not benchmarked |`,
    `| payment workers | **${fmt(p.workers.count)}** | ${fmt(p.workers.neededPaymentsPerSecond)} payments/s needed; measured ${fmt(m.settleOneWorker)}/s with 1 worker and ${fmt(m.settleTwoWorkers)}/s with 2 on one MySQL; never fewer than 2, so one can fail |`,
    '',
    `**Breaks first:** ${p.breaksFirst}.`,
  ].join('\n')
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      attempts: { type: 'string', default: '100000' },
      stock: { type: 'string', default: '10000' },
      coupons: { type: 'string', default: '1' },
      'settle-within': { type: 'string', default: '10' },
      utilization: { type: 'string', default: '0.7' },
      json: { type: 'boolean', default: false },
      write: { type: 'boolean', default: false },
      room: { type: 'boolean', default: false },
      shoppers: { type: 'string', default: '1000000' },
      'join-within': { type: 'string', default: '60' },
      'places-within': { type: 'string', default: '20' },
      admit: { type: 'string', default: '1000' },
    },
  })
  const file = positionals[0] ?? newestResult()
  const source = path.relative(process.cwd(), file)
  const scenarios = loadScenarios(file)
  const options = {
    attempts: Number(values.attempts),
    stock: Number(values.stock),
    coupons: Number(values.coupons),
    settleWithin: Number(values['settle-within']),
    utilization: Number(values.utilization),
  }
  const roomOptions = {
    shoppers: Number(values.shoppers),
    joinWithin: Number(values['join-within']),
    placesWithin: Number(values['places-within']),
    admitPerSecond: Number(values.admit),
    utilization: options.utilization,
  }
  for (const [k, v] of Object.entries({ ...options, ...roomOptions })) if (!(v > 0)) throw new Error(`--${k} must be a positive number`)
  const p = values.room ? roomPlan(scenarios, roomOptions) : plan(scenarios, options)
  if (values.write) {
    writeDoc('capacity', markdown(plan(scenarios, options), source) + '\n')
    writeDoc('capacity-room', roomMarkdown(roomPlan(scenarios, roomOptions), source) + '\n')
  } else {
    console.log(values.json ? JSON.stringify(p, null, 2) : values.room ? roomMarkdown(p, source) : markdown(p, source))
  }
}

/** Replaces a generated block of docs/capacity.md (between its <name>:begin and <name>:end marks). */
function writeDoc(name, output) {
  const file = path.join(ROOT, 'docs/capacity.md')
  const doc = fs.readFileSync(file, 'utf8')
  const start = doc.indexOf('-->\n', doc.indexOf(`<!-- ${name}:begin`)) + 4
  const end = doc.indexOf(`<!-- ${name}:end -->`)
  if (start < 4 || end < start) throw new Error(`${file} has no ${name}:begin / ${name}:end block`)
  fs.writeFileSync(file, doc.slice(0, start) + output + doc.slice(end))
  console.error(`wrote the ${name} plan into ${path.relative(process.cwd(), file)}`)
}
