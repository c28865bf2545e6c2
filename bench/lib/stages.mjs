// Per-stage CPU cost of one request, from a V8 .cpuprofile (node --cpu-prof) of a web instance that
// served a known number of requests. Each sample goes to one stage: the innermost frame on its stack
// that a rule below names (so Redis' socket write counts as "Redis client", not as node core; jose
// called from the context counts as "token check"), else what its own frame is (node core, GC, VM).
// The table is µs of CPU per request for each stage; the profiler's own overhead is in it, so read
// stages against each other and against the same table of another scenario, not as absolute costs.
// A bundled process (the payment worker: one esbuild file) is read through its source map first
// (remapBundle), so its frames name the package or source file they came from.
import fs from 'node:fs'
import { SourceMap } from 'node:module'

/**
 * Rewrites the frames of `bundle` (a file url or path ending the frames' urls) in `profile` to their
 * original sources from `bundle`.map: `…/node_modules/<pkg>/…` or `server/…` relative to the repository.
 */
export function remapBundle(profile, bundle) {
  const map = new SourceMap(JSON.parse(fs.readFileSync(`${bundle}.map`, 'utf8')))
  for (const n of profile.nodes) {
    const f = n.callFrame
    if (!f.url.endsWith(bundle)) continue
    const entry = map.findEntry(f.lineNumber, f.columnNumber)
    if (entry?.originalSource) f.url = entry.originalSource.replace(/^(?:\.\.\/)+/, '/')
  }
  return profile
}

/** [stage, test] — the first stage whose test matches a frame, walking from the leaf to the root. */
const RULES = [
  ['Redis client (ioredis)', (f) => /node_modules\/(?:ioredis|@ioredis\/[^/]+|redis-parser|redis-errors|cluster-key-slot|denque|standard-as-callback)\//.test(f.url)],
  ['Kafka client (kafkajs)', (f) => /node_modules\/kafkajs\//.test(f.url)],
  ['MySQL client (mysql2, kysely)', (f) => /node_modules\/(?:mysql2|kysely|lru\.min|sqlstring|named-placeholders|long|iconv-lite)\//.test(f.url)],
  ['metrics (prom-client)', (f) => /node_modules\/(?:prom-client|tdigest|bintrees)\//.test(f.url) || /^observe(?:Procedure)?$/.test(f.functionName)],
  ['logging (pino)', (f) => /node_modules\/(?:pino|pino-std-serializers|sonic-boom|thread-stream|fast-redact|quick-format-unescaped|atomic-sleep|on-exit-leak-free)\//.test(f.url)],
  ['token check (jose)', (f) => /node_modules\/jose\//.test(f.url)],
  ['input validation (zod)', (f) => /node_modules\/zod\//.test(f.url)],
  ['error shaping', (f) => /^(?:respondWithError|getErrorShape|getTRPCErrorFromUnknown|getHTTPStatusCodeFromError|errorFormatter|refuse|reasonOf|retryAfterOf)$/.test(f.functionName) || (/TRPCError|DomainError/.test(f.functionName) && !!f.url)],
  ['context and auth (app)', (f) => /^(?:createContext|identifyEvent|identifyCredentials|verifyAccessToken|isSessionRevoked)$/.test(f.functionName)],
  ['body read and input parse', (f) => /^(?:readInput|readRawBody|readBody)$/.test(f.functionName)],
  ['tRPC procedure call (@trpc/server)', (f) => /node_modules\/@trpc\/server\//.test(f.url)],
  ['settlement and follow-up (app)', (f) => /\/server\/(?:domain\/payments|workers)\//.test(f.url)],
  ['h3 / Nitro routing', (f) => /node_modules\/(?:h3|radix3|ufo|unenv|cookie-es|destr|defu|ohash|uncrypto)\//.test(f.url) || /\.output\/server\/index\.mjs$/.test(f.url)],
]

/** What a frame no rule names is: its package, node core, or a VM bucket. */
function fallback(f) {
  if (f.functionName === '(garbage collector)') return 'GC'
  if (f.functionName === '(program)' || f.functionName === '(root)') return 'VM and native (program)'
  if (f.url.startsWith('node:')) return /node:(?:_http|http|net|stream|internal\/(?:http|stream|streams|net))/.test(f.url) ? 'HTTP and sockets (node core)' : 'other node core'
  if (!f.url) return 'native builtins (JSON, RegExp, …)'
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(f.url)
  if (m) return `other packages (${m[1]})`
  return 'app code (other)'
}

/**
 * Stages of a profile: [{ stage, ms, pct, usPerRequest }] by cost, idle excluded.
 * `requests` is how many requests the instance answered within `window` ({ from, to } in ms since the
 * profile started; default all of it — start-up and warm-up included).
 */
export function stageTable(profile, requests, window = { from: 0, to: Infinity }) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const parent = new Map()
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const stageOf = new Map()
  const resolve = (id) => {
    if (stageOf.has(id)) return stageOf.get(id)
    const leaf = byId.get(id).callFrame
    if (leaf.functionName === '(idle)') return stageOf.set(id, null).get(id)
    let stage
    for (let cur = id; cur !== undefined && !stage; cur = parent.get(cur)) {
      const f = byId.get(cur).callFrame
      stage = RULES.find(([, test]) => test(f))?.[0]
    }
    stageOf.set(id, stage ?? fallback(leaf))
    return stageOf.get(id)
  }
  const us = new Map()
  let at = 0
  profile.samples.forEach((id, i) => {
    at += profile.timeDeltas[i] ?? 0
    if (at / 1000 < window.from || at / 1000 > window.to) return
    const stage = resolve(id)
    if (stage) us.set(stage, (us.get(stage) ?? 0) + (profile.timeDeltas[i] ?? 0))
  })
  const busy = [...us.values()].reduce((a, b) => a + b, 0)
  const rows = [...us]
    .sort((a, b) => b[1] - a[1])
    .map(([stage, t]) => ({ stage, ms: t / 1000, pct: (t / busy) * 100, usPerRequest: t / requests }))
  rows.push({ stage: 'total (CPU, idle excluded)', ms: busy / 1000, pct: 100, usPerRequest: busy / requests })
  return rows
}

export function stageMarkdown(rows, title) {
  return [
    `| stage (${title}) | µs CPU per request | share |`,
    '|---|---:|---:|',
    ...rows.map((r) => `| ${r.stage} | ${r.usPerRequest.toFixed(1)} | ${r.pct.toFixed(1)} % |`),
  ].join('\n')
}
