// The whole pipeline's cost of one purchase: each process group's CPU (NGINX, web, Redis, Kafka,
// workers, MariaDB; the load generator apart) from the start of a purchase run until every purchase
// it made is settled, divided by the purchases accepted (PENDING), and what the broker was asked for
// them (Kafka requests by API, messages per produce request and per fetched batch), read from the
// processes' own counters (flash_kafka_requests_total and the batch histograms of server/observability/metrics.ts).
import { cpuSecondsOf, jitCpuSecondsOf, machineTicks } from './util.mjs'

/** µs of CPU per accepted purchase each part may cost (the goals of the throughput issue). */
export const PART_GOALS_US = { web: 150, NGINX: 40, workers: 80, Redis: 40, Kafka: 60, MariaDB: 60 }
export const SYSTEM_GOAL_US = 450

/** One process's Prometheus metrics: Map of `name{labels}` → value (every sample line). */
export async function scrapeMetrics(url) {
  const text = await (await fetch(url)).text()
  const samples = new Map()
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue
    const at = line.lastIndexOf(' ')
    samples.set(line.slice(0, at), Number(line.slice(at + 1)))
  }
  return samples
}

/** Several processes' metrics added up. */
export async function scrapeAll(urls) {
  const total = new Map()
  for (const m of await Promise.all(urls.map(scrapeMetrics))) for (const [k, v] of m) total.set(k, (total.get(k) ?? 0) + v)
  return total
}

/** after − before, for counters and histogram sums and counts. */
export function metricsDelta(after, before) {
  return new Map([...after].map(([k, v]) => [k, v - (before.get(k) ?? 0)]))
}

const histogramMean = (d, name) => {
  const count = d.get(`${name}_count`) ?? 0
  return count ? (d.get(`${name}_sum`) ?? 0) / count : NaN
}

/**
 * The broker's side of `accepted` purchases, from the metrics delta of the web(s) and workers:
 * requests per purchase by API, messages per produce request, per fetch request and per fetched
 * partition batch, payment events settled together.
 */
export function kafkaFigures(d, accepted) {
  const byApi = new Map()
  for (const [k, v] of d) {
    const m = /^flash_kafka_requests_total\{client="([^"]+)",api="([^"]+)"\}$/.exec(k)
    if (m && v > 0) byApi.set(m[2], (byApi.get(m[2]) ?? 0) + v)
  }
  const requests = [...byApi.values()].reduce((a, b) => a + b, 0)
  const fetched = d.get('flash_kafka_fetch_batch_messages_sum') ?? 0
  return {
    requestsPerPurchase: requests / accepted,
    byApi: Object.fromEntries([...byApi].sort((a, b) => b[1] - a[1]).map(([api, n]) => [api, { requests: n, perPurchase: n / accepted }])),
    messagesPerProduce: histogramMean(d, 'flash_kafka_produce_batch_messages'),
    messagesPerFetch: byApi.get('Fetch') ? fetched / byApi.get('Fetch') : NaN,
    messagesPerFetchedBatch: histogramMean(d, 'flash_kafka_fetch_batch_messages'),
    paymentsPerSettlement: histogramMean(d, 'flash_settle_batch_payments'),
  }
}

/** Redis' own account of its commands (INFO commandstats): Map of command → { calls, usec }. */
export async function redisCommandStats(redis) {
  const stats = new Map()
  for (const line of (await redis.info('commandstats')).split('\n')) {
    const m = /^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/.exec(line)
    if (m) stats.set(m[1], { calls: Number(m[2]), usec: Number(m[3]) })
  }
  return stats
}

/**
 * Measures one purchase run end to end. `groups`: { part: pid | pid[] } (the load generator is not
 * one of them: its CPU comes from `run`'s result); `metricsUrls`: the web instances' and workers'
 * /metrics; `run()`: the wrk run (its result has codes['200'] = purchases accepted); `settle(r)`:
 * resolves once everything the run accepted is settled.
 */
export async function measurePipeline({ groups, metricsUrls, run, settle, redis }) {
  const m0 = await scrapeAll(metricsUrls)
  const r0 = redis ? await redisCommandStats(redis) : undefined
  const t0 = Date.now()
  const ticks0 = machineTicks()
  const cpu0 = Object.fromEntries(Object.entries(groups).map(([k, pids]) => [k, cpuSecondsOf(pids)]))
  const jit0 = Object.fromEntries(Object.entries(groups).map(([k, pids]) => [k, jitCpuSecondsOf(pids)]))
  const r = await run()
  const runSeconds = (Date.now() - t0) / 1000
  const cpuRun = Object.fromEntries(Object.entries(groups).map(([k, pids]) => [k, cpuSecondsOf(pids) - cpu0[k]]))
  const ticksRun = machineTicks()
  await settle(r)
  const seconds = (Date.now() - t0) / 1000
  const cpu = Object.fromEntries(Object.entries(groups).map(([k, pids]) => [k, cpuSecondsOf(pids) - cpu0[k]]))
  const jit = Object.fromEntries(Object.entries(groups).map(([k, pids]) => [k, jitCpuSecondsOf(pids) - jit0[k]]))
  const d = metricsDelta(await scrapeAll(metricsUrls), m0)
  const accepted = r.codes?.['200'] ?? 0
  // what Redis spent its time on (the commands' own time, without I/O), per purchase
  const redisCommands = r0 && Object.fromEntries([...await redisCommandStats(redis)]
    .map(([name, { calls, usec }]) => [name, {
      perPurchase: (calls - (r0.get(name)?.calls ?? 0)) / accepted,
      usPerPurchase: (usec - (r0.get(name)?.usec ?? 0)) / accepted,
    }])
    .filter(([, v]) => v.perPurchase > 0).sort((a, b) => b[1].usPerPurchase - a[1].usPerPurchase))
  const parts = Object.fromEntries(Object.entries(cpu).map(([k, s]) => [k, {
    usPerPurchase: accepted ? (s / accepted) * 1e6 : NaN,
    // of it, a JVM's just-in-time compiling (the broker's, while it warms up): not a cost per purchase once warm
    jitUsPerPurchase: accepted ? (jit[k] / accepted) * 1e6 : NaN,
    pctOfCore: (cpuRun[k] / runSeconds) * 100, // during the run itself
  }]))
  const totalUs = Object.values(parts).reduce((a, p) => a + p.usPerPurchase, 0)
  return {
    run: r, accepted, runSeconds, settleTailSeconds: seconds - runSeconds, parts, totalUs,
    loadGeneratorUsPerPurchase: accepted ? ((r.wrkCpuPct / 100) * r.seconds / accepted) * 1e6 : NaN,
    machineBusyPct: ((ticksRun.busy - ticks0.busy) / (ticksRun.total - ticks0.total)) * 100,
    kafka: kafkaFigures(d, accepted),
    redisCommands,
  }
}

const fmt = (n, d = 0) => (Number.isFinite(n) ? n.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d }) : '–')

/** The per-part table (Markdown): % of a core during the run, µs per accepted purchase, its goal. */
export function costMarkdown(p, title = 'part') {
  const rows = Object.entries(p.parts).sort((a, b) => b[1].usPerPurchase - a[1].usPerPurchase)
  return [
    `| ${title} | % of a core | CPU µs per purchase | goal µs | met |`,
    '|---|---:|---:|---:|:---:|',
    ...rows.map(([k, v]) => `| ${k} | ${fmt(v.pctOfCore)} | ${fmt(v.usPerPurchase)} | ≤ ${PART_GOALS_US[k] ?? '–'} | ${PART_GOALS_US[k] === undefined ? '' : v.usPerPurchase <= PART_GOALS_US[k] ? '✅' : '❌'} |`),
    `| **whole system** | ${fmt(rows.reduce((a, [, v]) => a + v.pctOfCore, 0))} | **${fmt(p.totalUs)}** | ≤ ${SYSTEM_GOAL_US} | ${p.totalUs <= SYSTEM_GOAL_US ? '✅' : '❌'} |`,
    `| load generator (wrk, apart) | ${fmt(p.run.wrkCpuPct)} | ${fmt(p.loadGeneratorUsPerPurchase)} | – | |`,
    ...jitNote(p),
  ].join('\n')
}

/** The parts whose figure holds a JVM's just-in-time compiling, as "Kafka 40" (empty when none compiled). */
function jitParts(p) {
  return Object.entries(p.parts).filter(([, v]) => v.jitUsPerPurchase >= 1).map(([k, v]) => `${k} ${fmt(v.jitUsPerPurchase)}`)
}
const jitNote = (p) => {
  const parts = jitParts(p)
  return parts.length ? ['', `Of these µs, the JVM's just-in-time compiler threads (C1/C2), which a warm JVM no longer runs: ${parts.join(', ')}.`] : []
}

/** The broker's side (Markdown): requests per purchase by API, messages per request and batch. */
export function kafkaMarkdown(p) {
  const k = p.kafka
  return [
    `Kafka requests per purchase ${fmt(k.requestsPerPurchase, 3)} (${Object.entries(k.byApi).map(([api, v]) => `${api} ${fmt(v.perPurchase, 3)}`).join(', ')}); `
    + `messages per produce request ${fmt(k.messagesPerProduce, 1)}, per fetch request ${fmt(k.messagesPerFetch, 1)}, per fetched partition batch ${fmt(k.messagesPerFetchedBatch, 1)}; `
    + `payments settled together ${fmt(k.paymentsPerSettlement, 1)}.`,
  ].join('\n')
}

/** Redis' commands per purchase (Markdown line), by their own time. */
export function redisMarkdown(p) {
  if (!p.redisCommands) return ''
  const top = Object.entries(p.redisCommands).slice(0, 8)
  const inCommands = Object.values(p.redisCommands).reduce((a, v) => a + v.usPerPurchase, 0)
  return `Redis commands per purchase (INFO commandstats; their own time ${fmt(inCommands, 1)} µs of Redis' ${fmt(p.parts.Redis?.usPerPurchase)} µs, the rest is I/O): ${top.map(([name, v]) => `${name} ${fmt(v.perPurchase, 2)} × = ${fmt(v.usPerPurchase, 1)} µs`).join(', ')}.`
}

/** One line for a scenario's note: the headline figure and the split. */
export function costNote(p) {
  const split = Object.entries(p.parts)
    .sort((a, b) => b[1].usPerPurchase - a[1].usPerPurchase)
    .map(([k, v]) => `${k} ${fmt(v.usPerPurchase)}`)
    .join(', ')
  const jit = jitParts(p)
  return `system CPU ${fmt(p.totalUs)} µs per purchase (${split}; wrk ${fmt(p.loadGeneratorUsPerPurchase)} apart${jit.length ? `; of it JIT compiling: ${jit.join(', ')}` : ''}); Kafka ${fmt(p.kafka.requestsPerPurchase, 2)} requests per purchase, ${fmt(p.kafka.messagesPerProduce, 1)} messages per produce, ${fmt(p.kafka.messagesPerFetchedBatch, 1)} per fetched batch; machine ${fmt(p.machineBusyPct)} % busy`
}
