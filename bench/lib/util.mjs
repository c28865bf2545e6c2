// Small helpers of the benchmark: process stats from /proc, percentiles, a progress line, wrk.
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export const BENCH_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
export const ROOT = path.resolve(BENCH_DIR, '..')
export { setTimeout as sleep } from 'node:timers/promises'

const TICKS = 100 // USER_HZ on Linux

/** An A/B's rounds in the order a, b, b, a, a, b…: each variant goes first as often as second. */
export function alternating(variants, rounds) {
  const order = []
  for (let r = 0; r < rounds; r++) for (const v of r % 2 ? [...variants].reverse() : variants) order.push([v, r])
  return order
}

/** `NAME=value` pairs (a variant's environment in an A/B) as an object; the value may hold `=`. */
export function envFromPairs(pairs) {
  return Object.fromEntries(pairs.map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]))
}

/** CPU seconds (user+system) in a /proc stat file, a process's or a thread's (…/task/<tid>/stat); throws when it is gone. */
function statCpuSeconds(file) {
  const stat = fs.readFileSync(file, 'utf8')
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(f[11]) + Number(f[12])) / TICKS
}
/** CPU seconds (user+system) a process has used so far, or NaN. */
export function cpuSeconds(pid) {
  try {
    return statCpuSeconds(`/proc/${pid}/stat`)
  } catch {
    return NaN
  }
}
/** CPU seconds so far of a stack's MariaDB, Redis and Kafka (scripts/lib/stack.mjs). */
export function storesCpu(stack) {
  const services = stack.processes()
  return { MariaDB: cpuSeconds(services.mariadb?.pid), Redis: cpuSeconds(services.redis?.pid), Kafka: cpuSeconds(services.kafka?.pid) }
}
/** CPU seconds of several processes together (a pid or a list of them). */
export function cpuSecondsOf(pids) {
  return [pids].flat().filter(Boolean).reduce((sum, pid) => sum + cpuSeconds(pid), 0)
}
/**
 * CPU seconds of the threads of a JVM's just-in-time compilers (HotSpot names them "C1 CompilerThre…" and
 * "C2 CompilerThre…"), summed over several processes: what a JVM spends compiling its hot code, which
 * a warm one no longer does. 0 for a process that is not a JVM.
 */
export function jitCpuSecondsOf(pids) {
  let sum = 0
  for (const pid of [pids].flat().filter(Boolean)) {
    let tasks
    try {
      tasks = fs.readdirSync(`/proc/${pid}/task`)
    } catch {
      continue // gone meanwhile
    }
    for (const tid of tasks) {
      try {
        const thread = `/proc/${pid}/task/${tid}`
        if (/^C[12] CompilerThre/.test(fs.readFileSync(`${thread}/comm`, 'utf8'))) sum += statCpuSeconds(`${thread}/stat`)
      } catch {
        // a thread that ended meanwhile
      }
    }
  }
  return sum
}
/** The machine's busy and total CPU ticks so far (/proc/stat), to tell how much of it was used. */
export function machineTicks() {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number)
  const idle = f[3] + (f[4] ?? 0)
  const total = f.reduce((a, b) => a + b, 0)
  return { busy: total - idle, total }
}
/** Pids of a process and its children (NGINX' master and workers). */
export function withChildren(pid) {
  try {
    const children = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number)
    return [pid, ...children]
  } catch {
    return [pid]
  }
}
/** Resident memory of a process in MB, or NaN. */
export const rssMb = (pid) => statusMb(pid, 'VmRSS')
/** The most resident memory a process has had so far (the kernel's high-water mark) in MB, or NaN. */
export const peakRssMb = (pid) => statusMb(pid, 'VmHWM')
function statusMb(pid, field) {
  try {
    const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m ? Number(m[1]) / 1024 : NaN
  } catch {
    return NaN
  }
}
export function loadAverage() {
  try {
    return fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).map(Number)
  } catch {
    return []
  }
}

export function percentile(sorted, p) {
  if (!sorted.length) return NaN
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]
}

// ---- progress display: one status line, rewritten in place on a terminal, plain lines otherwise
const tty = process.stdout.isTTY
let statusShown = false
export function status(text) {
  if (!tty) return
  process.stdout.write(`\r\x1b[2K${text}`)
  statusShown = true
}
export function say(text) {
  if (statusShown) process.stdout.write('\r\x1b[2K')
  statusShown = false
  console.log(text)
}
/** Shows `label` with elapsed seconds (and a bar when `total` is known) until the promise settles. */
export async function withTicker(label, promise, totalSeconds) {
  const t0 = Date.now()
  const timer = setInterval(() => {
    const s = (Date.now() - t0) / 1000
    const bar = totalSeconds ? ` [${'#'.repeat(Math.min(20, Math.round((s / totalSeconds) * 20))).padEnd(20, '.')}]` : ''
    status(`  … ${label}${bar} ${s.toFixed(1)}s`)
  }, 250)
  try {
    return await promise
  } finally {
    clearInterval(timer)
    status('')
  }
}

/**
 * One wrk run with bench/lua/run.lua. `limit` > 0 ends the run after that many answers (the Lua
 * script prints DONE, we interrupt wrk) and the rate is computed over that span.
 * Returns { rps, requests, seconds, codes, p50, p90, p95, p99, max (ms), wrkCpu, serverCpu }.
 */
/** `script`/`scriptArgs`: another wrk script that prints the same BENCH_JSON line (bench/lua/pages.lua). */
export async function runWrk({
  url,
  method = 'GET',
  path: reqPath,
  tokenFile,
  body,
  coupons,
  limit = 0,
  duration = 6,
  connections = 50,
  serverPid,
  label,
  script,
  scriptArgs,
}) {
  script ??= path.join(BENCH_DIR, 'lua', 'run.lua')
  const d = limit > 0 ? Math.max(duration, 90) : duration
  const argv = ['-t1', `-c${connections}`, `-d${d}s`, '--timeout', '10s', '-s', script, url, '--', ...(scriptArgs ?? [method, reqPath, tokenFile ?? '-', body ?? '-', String(limit), ...(coupons ? [coupons.join(',')] : [])])]
  const child = spawn('wrk', argv, { stdio: ['ignore', 'pipe', 'pipe'] })
  // serverPid: one pid or several (every web instance behind NGINX); their CPU is added up
  const cpu0 = serverPid ? cpuSecondsOf(serverPid) : NaN
  const t0 = process.hrtime.bigint()
  let out = ''
  let err = ''
  let doneAt
  // the load generator must not be the bottleneck: sample its CPU while it runs
  let wrkCpu = 0
  const sampler = setInterval(() => { const c = cpuSeconds(child.pid); if (c === c) wrkCpu = c }, 100)
  child.stdout.on('data', (chunk) => {
    out += chunk
    if (limit > 0 && doneAt === undefined && /(^|\n)DONE\n/.test(out)) {
      doneAt = process.hrtime.bigint()
      const c = cpuSeconds(child.pid)
      if (c === c) wrkCpu = c
      child.kill('SIGINT') // ends wrk's sleep: it joins its thread and prints the summary
    }
  })
  child.stderr.on('data', (chunk) => { err += chunk })
  const exited = new Promise((resolve) => child.on('exit', resolve))
  await withTicker(label ?? `wrk ${reqPath}`, exited, limit > 0 ? undefined : d)
  clearInterval(sampler)
  const cpu1 = serverPid ? cpuSecondsOf(serverPid) : NaN
  const json = /BENCH_JSON (\{.*\})/.exec(out)
  if (!json) throw new Error(`wrk gave no result:\n${out}\n${err}`)
  const r = JSON.parse(json[1])
  const seconds = doneAt !== undefined ? Number(doneAt - t0) / 1e9 : r.durationUs / 1e6
  const requests = limit > 0 ? limit : r.requests
  const elapsed = Number((doneAt ?? process.hrtime.bigint()) - t0) / 1e9
  const ms = (us) => us / 1000
  return {
    rps: requests / seconds, requests, seconds, codes: r.codes, socketErrors: r.socketErrors,
    p50: ms(r.latencyUs.p50), p90: ms(r.latencyUs.p90), p95: ms(r.latencyUs.p95), p99: ms(r.latencyUs.p99), max: ms(r.latencyUs.max),
    wrkCpuPct: (wrkCpu / elapsed) * 100,
    serverCpuPct: ((cpu1 - cpu0) / elapsed) * 100,
    // requests per CPU-second of the server: what one fully available core would answer; holds
    // better than req/s when other processes take the CPU (a loaded machine)
    perCpuSecond: serverPid && cpu1 > cpu0 ? requests / (cpu1 - cpu0) : undefined,
  }
}
