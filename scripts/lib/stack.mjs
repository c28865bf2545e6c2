// The local stack: MariaDB, Redis, Kafka, Keycloak (+ NGINX, web instances and workers on demand),
// each a child process with its own data dir, port and log under the stack dir.
//
//   const stack = await startStack({ name: 'test', dir, ports: {} })   // {} → free ports
//   stack.env            // DATABASE_URL, REDIS_URL, KAFKA_BROKERS, OIDC_*, KEYCLOAK_*, PUBLIC_URL, SESSION_PASSWORD
//   await stack.stop()
//
// From another process (e.g. a vitest file) with FLASH_SALE_STACK_DIR set:
//   const stack = openStack()
//   await stack.restartRedis(); await stack.startNginx({ upstreams: [webPort] }); …
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { APP_NODE_FLAGS, appNodeEnv } from './node-runtime.mjs'
import { ROOT, log, ok, warn, mkdirp, freePort, assertPortFree, httpStatus, terminateForeground, c } from './util.mjs'
import { stopProcess, stopPid, isAlive } from './proc.mjs'
import { ensureJava } from './system.mjs'
import { ensureKafka, ensureKeycloak } from './downloads.mjs'
import {
  launch, startMariadb, startRedis, startKafka, startKeycloak, startNginxProcess, reloadNginxProcess, syncWebClient, keycloakAdminToken,
  createKafkaTopics, describeGroupMembers, startToxiproxyProcess, REALM, WEB_CLIENT_ID, CLI_CLIENT_ID,
} from './services.mjs'

export { REALM, WEB_CLIENT_ID, CLI_CLIENT_ID, keycloakAdminToken, createKafkaTopics }

/** Every port the stack may use: label and the variable that overrides it for `npm start`. */
export const PORT_SPECS = {
  shop: { label: 'NGINX', env: 'SHOP_PORT', def: 8080 },
  keycloak: { label: 'Keycloak', env: 'KEYCLOAK_PORT', def: 8180 },
  keycloakManagement: { label: 'Keycloak management', env: 'KEYCLOAK_MANAGEMENT_PORT', def: 8190 },
  mysql: { label: 'MariaDB', env: 'MYSQL_PORT', def: 3307 },
  redis: { label: 'Redis', env: 'REDIS_PORT', def: 6380 },
  kafka: { label: 'Kafka', env: 'KAFKA_PORT', def: 9092 },
  kafkaController: { label: 'Kafka controller', env: 'KAFKA_CONTROLLER_PORT', def: 9093 },
}

/** The fixed ports of `npm start` / `npm run dev` (each overridable by its variable). */
export function defaultPorts() {
  return Object.fromEntries(Object.entries(PORT_SPECS).map(([k, s]) => [k, Number(process.env[s.env] || s.def)]))
}

/**
 * Kafka listeners a test stack keeps for Toxiproxy (tests/faults/network): each is advertised at the
 * port of a proxy in front of it, so a client bootstrapped through that proxy stays behind it. Always
 * there in test stacks (idle listeners cost nothing worth counting), so a test never restarts the broker.
 */
export const KAFKA_PROXY_SLOTS = 6

/** Infrastructure services in start order; stopped in reverse. */
export const SERVICES = ['mariadb', 'redis', 'kafka', 'keycloak']
const EXTERNAL_VAR = { mariadb: 'DATABASE_URL', redis: 'REDIS_URL', kafka: 'KAFKA_BROKERS', keycloak: 'OIDC_ISSUER' }
const SERVICE_PORTS = {
  mariadb: ['mysql'],
  redis: ['redis'],
  kafka: ['kafka', 'kafkaController'],
  keycloak: ['keycloak', 'keycloakManagement'],
}
const STARTERS = { mariadb: startMariadb, redis: startRedis, kafka: startKafka, keycloak: startKeycloak }
const STOP_TIMEOUT = { mariadb: 30_000, redis: 10_000, kafka: 30_000, keycloak: 20_000 }

function procStartTime(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]
  } catch {
    return null
  }
}

function writeAtomic(file, text) {
  const tmp = `${file}.${process.pid}.tmp`
  fs.writeFileSync(tmp, text)
  fs.renameSync(tmp, file)
}

/**
 * The app's allocator (appNodeEnv; an LD_PRELOAD of the caller's own wins, an empty one turns it off),
 * unless the process runs under a wrapper: libfaketime and jemalloc clash (jemalloc reads the clock
 * while libfaketime is initialising, and the process never starts).
 */
const allocatorEnv = (wrap) => (wrap.length ? {} : appNodeEnv())

/**
 * `node <script>`, or under a wrapper command such as `faketime -f +30s` (clock-skew tests); `flags`
 * are Node/V8 flags after the app's own, which they override (a benchmark's variant).
 */
function nodeCommand(wrap, script, flags = []) {
  const node = [process.execPath, ...APP_NODE_FLAGS, ...flags, script]
  return wrap.length ? { cmd: wrap[0], args: [...wrap.slice(1), ...node] } : { cmd: node[0], args: node.slice(1) }
}

function stopRank(key) {
  if (key.startsWith('nginx')) return 0
  if (key.startsWith('web-')) return 1
  if (key.startsWith('worker-')) return 2
  const i = SERVICES.indexOf(key)
  return i === -1 ? 3 : 10 - i
}

/** Stacks started by this process and not yet stopped (see onShutdown, stopAll). */
const activeStacks = new Set()

export class Stack {
  /** @param {object} state the contents of <dir>/stack.json */
  constructor(state, { owned = false } = {}) {
    this.state = state
    this.handles = new Map()
    // a stack started by this process takes its children down if the process dies; processes
    // started through openStack() (e.g. a restarted Redis in a test file) outlive their starter
    // and are stopped by the owner's stop()
    this.owned = owned
  }

  get name() {
    return this.state.name
  }
  get dir() {
    return this.state.dir
  }
  get ports() {
    return this.state.ports
  }
  get env() {
    return this.state.env
  }
  get secrets() {
    return this.state.secrets
  }
  get java() {
    return this.state.java
  }
  get kafkaLibs() {
    return this.state.kafkaLibs
  }
  get keycloakDist() {
    return this.state.keycloakDist
  }
  /** [{ name, port, advertisedPort }]: the broker's listeners kept for proxies (test stacks). */
  get kafkaProxySlots() {
    return this.state.kafkaProxySlots ?? []
  }
  get publicUrl() {
    return this.state.env.PUBLIC_URL
  }
  get logsDir() {
    return path.join(this.dir, 'logs')
  }
  get pidsDir() {
    return path.join(this.dir, 'pids')
  }
  redirectUris() {
    return this.state.extraRedirectUris ?? []
  }
  isExternal(service) {
    return !!this.state.external?.[service]
  }

  // ---- process bookkeeping: one file per process, so several processes can share a stack dir
  track(key, handle) {
    this.handles.set(key, handle)
    mkdirp(this.pidsDir)
    writeAtomic(
      path.join(this.pidsDir, `${key}.json`),
      JSON.stringify({ pid: handle.pid, startTime: procStartTime(handle.pid), owner: process.pid, log: handle.logFile }),
    )
  }
  untrack(key) {
    this.handles.delete(key)
    fs.rmSync(path.join(this.pidsDir, `${key}.json`), { force: true })
  }
  /** { key: { pid, startTime, log } } of the processes recorded as running (and still alive). */
  processes() {
    const out = {}
    let files = []
    try {
      files = fs.readdirSync(this.pidsDir).filter((f) => f.endsWith('.json'))
    } catch {
      // no process recorded yet
    }
    for (const f of files) {
      try {
        const rec = JSON.parse(fs.readFileSync(path.join(this.pidsDir, f), 'utf8'))
        if (isAlive(rec.pid) && (!rec.startTime || procStartTime(rec.pid) === rec.startTime)) out[f.slice(0, -5)] = rec
        else fs.rmSync(path.join(this.pidsDir, f), { force: true })
      } catch {
        // a record being written right now: skip it
      }
    }
    return out
  }

  async stopKey(key, timeoutMs = 10_000) {
    const handle = this.handles.get(key)
    const rec = this.processes()[key]
    if (handle && handle.exitCode === undefined) await stopProcess(handle, timeoutMs)
    // the recorded one may be a newer process (restarted by another process, e.g. a test)
    if (rec && rec.pid !== handle?.pid) await stopPid(rec.pid, timeoutMs)
    this.untrack(key)
  }

  // ---- infrastructure services
  async startService(name) {
    if (!STARTERS[name]) throw new Error(`unknown service ${name} (one of ${SERVICES.join(', ')})`)
    if (this.isExternal(name)) throw new Error(`${name} is external (${EXTERNAL_VAR[name]}), not started here`)
    if (this.processes()[name]) throw new Error(`${name} is already running`)
    return STARTERS[name](this)
  }
  async stopService(name) {
    log(`stopping ${name}`)
    await this.stopKey(name, STOP_TIMEOUT[name] ?? 10_000)
  }
  /** Stops and starts a service on the same port and data (e.g. a Redis restart test). */
  async restartService(name) {
    await this.stopService(name)
    return this.startService(name)
  }
  restartRedis() {
    return this.restartService('redis')
  }
  restartMariadb() {
    return this.restartService('mariadb')
  }
  restartKafka() {
    return this.restartService('kafka')
  }
  /** SIGKILL a service (crash test); start it again with startService(name). */
  killService(name) {
    return this.killKey(name)
  }
  /** Redis' data dir (its AOF: scripts/lib/crash.mjs loseAofTail). */
  get redisDir() {
    return path.join(this.dir, 'redis')
  }

  // ---- NGINX
  /**
   * opts: { port = ports.shop, upstreams = running web ports, name = 'nginx', purchaseRate,
   * purchaseBurst, generalRate, generalBurst, tlsCert, tlsKey, tlsPort, accessLog }.
   * Several NGINX can run side by side with different names and ports.
   */
  async startNginx(opts = {}) {
    const port = opts.port ?? this.ports.shop
    const upstreams = opts.upstreams ?? this.webPorts()
    const handle = await startNginxProcess(this, { ...opts, port, upstreams })
    return { url: `http://127.0.0.1:${port}`, port, conf: handle.conf, prefix: handle.prefix, stop: () => this.stopNginx(opts.name) }
  }
  async reloadNginx(opts = {}) {
    await reloadNginxProcess(this, { ...opts, port: opts.port ?? this.ports.shop, upstreams: opts.upstreams ?? this.webPorts() })
  }
  async stopNginx(name = 'nginx') {
    await this.stopKey(name, 5000)
  }

  // ---- app processes (need `npm run build` output)
  webPorts() {
    return Object.keys(this.processes())
      .filter((k) => k.startsWith('web-'))
      .map((k) => Number(k.slice(4)))
      .sort((a, b) => a - b)
  }
  /** A web instance: node .output/server/index.mjs on 127.0.0.1:port, ready when /healthz answers 200. */
  async startWeb({ port, env = {}, timeoutMs = 60_000, wrap = [] } = {}) {
    port ??= await freePort()
    const handle = await launch(this, {
      key: `web-${port}`,
      label: `web instance`,
      port,
      ...nodeCommand(wrap, path.join(ROOT, '.output', 'server', 'index.mjs')),
      cwd: ROOT,
      env: {
        ...allocatorEnv(wrap),
        ...process.env,
        ...this.env,
        HOST: '127.0.0.1',
        PORT: String(port),
        NITRO_HOST: '127.0.0.1',
        NITRO_PORT: String(port),
        ...env,
      },
      timeoutMs,
      ready: async () => (await httpStatus(`http://127.0.0.1:${port}/healthz`, 2000)) === 200,
    })
    return { port, url: `http://127.0.0.1:${port}`, pid: handle.pid, log: handle.logFile, exited: handle.exited, stop: (t) => this.stopKey(`web-${port}`, t), kill: () => this.killKey(`web-${port}`) }
  }
  /** A payment worker: node .output/worker/index.mjs, ready when :metricsPort/healthz answers 200. */
  async startWorker({ metricsPort, env = {}, timeoutMs = 60_000, wrap = [], nodeFlags = [] } = {}) {
    metricsPort ??= await freePort()
    const handle = await launch(this, {
      key: `worker-${metricsPort}`,
      label: 'payment worker (metrics)',
      port: metricsPort,
      ...nodeCommand(wrap, path.join(ROOT, '.output', 'worker', 'index.mjs'), nodeFlags),
      cwd: ROOT,
      env: { ...allocatorEnv(wrap), ...process.env, ...this.env, METRICS_PORT: String(metricsPort), ...env },
      timeoutMs,
      ready: async () => (await httpStatus(`http://127.0.0.1:${metricsPort}/healthz`, 2000)) === 200,
    })
    return {
      metricsPort,
      pid: handle.pid,
      log: handle.logFile,
      exited: handle.exited,
      stop: (t) => this.stopKey(`worker-${metricsPort}`, t),
      kill: () => this.killKey(`worker-${metricsPort}`),
    }
  }
  async killKey(key) {
    const rec = this.processes()[key]
    if (!rec) return
    try {
      process.kill(-rec.pid, 'SIGKILL')
    } catch {
      // already gone
    }
    await stopPid(rec.pid, 1000)
    this.untrack(key)
  }

  // ---- fault tools (test stacks)
  /** The stack's Toxiproxy (started on first use, shared by later callers): { url, port }. */
  async startToxiproxy() {
    const port = this.ports.toxiproxy
    if (!port) throw new Error(`the ${this.name} stack has no Toxiproxy port (test stacks have one)`)
    if (!this.processes().toxiproxy) await startToxiproxyProcess(this, port)
    return { url: `http://127.0.0.1:${port}`, port }
  }
  /** Kafka's own view of a consumer group's members (ConsumerGroupCommand); [] when it has none. */
  groupMembers(group) {
    return describeGroupMembers(this, group)
  }

  // ---- Keycloak helpers
  /** Adds redirect URIs to the web client (e.g. a web instance reached without NGINX). */
  async addRedirectUris(uris) {
    this.state.extraRedirectUris = [...new Set([...(this.state.extraRedirectUris ?? []), ...uris])]
    writeAtomic(path.join(this.dir, 'stack.json'), JSON.stringify(this.state, null, 2)) // kept across Keycloak restarts
    if (!this.isExternal('keycloak')) await syncWebClient(this)
  }
  adminToken() {
    return keycloakAdminToken(this.env.KEYCLOAK_URL, this.env.KEYCLOAK_ADMIN_USERNAME, this.env.KEYCLOAK_ADMIN_PASSWORD)
  }

  /** Stops everything this stack runs (also what other processes started in it), in reverse order. */
  async stop() {
    if (this.stopping) return this.stopping
    this.aborted = true // starts still in flight give up
    this.stopping = (async () => {
      const keys = [...new Set([...Object.keys(this.processes()), ...this.handles.keys()])].sort((a, b) => stopRank(a) - stopRank(b))
      const groups = new Map()
      for (const k of keys) {
        const r = stopRank(k)
        if (!groups.has(r)) groups.set(r, [])
        groups.get(r).push(k)
      }
      for (const [, group] of [...groups].sort((a, b) => a[0] - b[0])) {
        await Promise.all(
          group.map(async (k) => {
            const t0 = Date.now()
            await this.stopKey(k, STOP_TIMEOUT[k] ?? 10_000)
            log(`stopped ${k} ${c.dim(`(${((Date.now() - t0) / 1000).toFixed(1)}s)`)}`)
          }),
        )
      }
      if (this.state.owner === process.pid) fs.rmSync(path.join(this.dir, 'owner'), { force: true })
      activeStacks.delete(this)
    })()
    return this.stopping
  }

  /** Writes the env as KEY=value lines (works with `node --env-file` and `set -a; . file`). */
  writeEnvFile(file = path.join(this.dir, 'env')) {
    const extra = { FLASH_SALE_STACK_DIR: this.dir }
    writeAtomic(file, `${Object.entries({ ...this.env, ...extra }).map(([k, v]) => `${k}=${v}`).join('\n')}\n`)
    return file
  }
}

function loadSecrets(dir) {
  const file = path.join(dir, 'secrets.json')
  if (fs.existsSync(file)) return JSON.parse(fs.readFileSync(file, 'utf8'))
  const secrets = {
    sessionPassword: crypto.randomBytes(36).toString('base64url'),
    webClientSecret: crypto.randomBytes(24).toString('base64url'),
  }
  writeAtomic(file, JSON.stringify(secrets, null, 2))
  fs.chmodSync(file, 0o600)
  return secrets
}

/** Re-opens a running stack from its dir (default: $FLASH_SALE_STACK_DIR). */
export function openStack(dir = process.env.FLASH_SALE_STACK_DIR) {
  if (!dir) throw new Error('openStack: no stack dir (set FLASH_SALE_STACK_DIR)')
  const file = path.join(path.resolve(dir), 'stack.json')
  if (!fs.existsSync(file)) throw new Error(`no stack in ${dir} (missing stack.json)`)
  return new Stack(JSON.parse(fs.readFileSync(file, 'utf8')))
}

/** Functional forms for tests: `await restartRedis()`, `await startNginx({ upstreams })`. */
export const restartRedis = (dir) => openStack(dir).restartRedis()
export const startNginx = (opts = {}, dir) => openStack(dir).startNginx(opts)

/**
 * Starts the infrastructure of a stack.
 * @param {object} o
 * @param {string} o.name      'dev' | 'test' | …
 * @param {string} o.dir       data, logs and state live here; reused on the next start
 * @param {object} [o.ports]   { shop, keycloak, keycloakManagement, mysql, redis, kafka, kafkaController }:
 *                             a number is a fixed port (must be free), missing/0 → a free port
 * @param {string[]} [o.services] subset of ['mariadb','redis','kafka','keycloak'] (default all)
 * @param {string[]} [o.extraRedirectUris] more redirect URIs for flash-sale-web
 * @param {boolean|object} [o.withNginx] also start NGINX (options of stack.startNginx)
 * @param {boolean} [o.faultTools] a Toxiproxy port and Kafka's proxied listeners (default: test stacks)
 * @returns {Promise<Stack>} stack.env, stack.stop(), …
 */
export async function startStack({
  name = 'dev',
  dir,
  ports = {},
  services = SERVICES,
  extraRedirectUris = [],
  withNginx = false,
  faultTools = name === 'test',
} = {}) {
  if (!dir) throw new Error('startStack: dir is required')
  dir = path.resolve(dir)
  mkdirp(path.join(dir, 'logs'))

  // one owner at a time; leftovers of a crashed run are stopped
  const ownerFile = path.join(dir, 'owner')
  if (fs.existsSync(ownerFile)) {
    const owner = Number(fs.readFileSync(ownerFile, 'utf8'))
    if (owner !== process.pid && isAlive(owner)) {
      throw new Error(`the ${name} stack in ${dir} is already running (pid ${owner}) — stop it first`)
    }
  }
  writeAtomic(ownerFile, String(process.pid))
  const leftovers = new Stack({ dir, env: {}, ports: {} })
  if (Object.keys(leftovers.processes()).length) {
    warn(`stopping processes left over from an earlier run in ${dir}: ${Object.keys(leftovers.processes()).join(', ')}`)
    await leftovers.stop()
  }

  const external = Object.fromEntries(SERVICES.map((s) => [s, !!process.env[EXTERNAL_VAR[s]] || !services.includes(s)]))
  for (const s of SERVICES) {
    if (process.env[EXTERNAL_VAR[s]]) log(`${s}: using ${EXTERNAL_VAR[s]}=${process.env[EXTERNAL_VAR[s]]} (not started here)`)
  }

  // ports: fixed ones must be free (before anything starts), the rest are picked
  const resolved = {}
  const needed = ['shop', ...SERVICES.filter((s) => !external[s]).flatMap((s) => SERVICE_PORTS[s])]
  for (const key of Object.keys(PORT_SPECS)) {
    const want = ports[key]
    if (!needed.includes(key)) continue
    if (want) {
      // the shop port is only listened on when NGINX starts
      if (key !== 'shop' || withNginx) await assertPortFree(want, PORT_SPECS[key].label, PORT_SPECS[key].env)
      resolved[key] = want
    } else resolved[key] = await freePort()
  }

  const kafkaProxySlots = []
  if (faultTools) {
    resolved.toxiproxy = await freePort()
    if (!external.kafka) {
      for (let i = 1; i <= KAFKA_PROXY_SLOTS; i++) {
        kafkaProxySlots.push({ name: `PROXIED${i}`, port: await freePort(), advertisedPort: await freePort() })
      }
    }
  }

  const java = !external.kafka || !external.keycloak ? await ensureJava() : null
  const [kafkaLibs, keycloakDist] = await Promise.all([external.kafka ? null : ensureKafka(), external.keycloak ? null : ensureKeycloak()])
  const secrets = loadSecrets(dir)

  const keycloakUrl = process.env.OIDC_ISSUER
    ? process.env.OIDC_ISSUER.replace(/\/realms\/.*$/, '')
    : `http://localhost:${resolved.keycloak}`
  const publicUrl = process.env.PUBLIC_URL || `http://localhost:${resolved.shop}`
  const env = {
    DATABASE_URL: process.env.DATABASE_URL || `mysql://flash:flash@127.0.0.1:${resolved.mysql}/flash_sale`,
    REDIS_URL: process.env.REDIS_URL || `redis://127.0.0.1:${resolved.redis}`,
    KAFKA_BROKERS: process.env.KAFKA_BROKERS || `127.0.0.1:${resolved.kafka}`,
    OIDC_ISSUER: process.env.OIDC_ISSUER || `${keycloakUrl}/realms/${REALM}`,
    OIDC_WEB_CLIENT_ID: WEB_CLIENT_ID,
    OIDC_WEB_CLIENT_SECRET: (external.keycloak && process.env.OIDC_WEB_CLIENT_SECRET) || secrets.webClientSecret,
    OIDC_CLI_CLIENT_ID: CLI_CLIENT_ID,
    KEYCLOAK_URL: process.env.KEYCLOAK_URL || keycloakUrl,
    KEYCLOAK_ADMIN_USERNAME: process.env.KEYCLOAK_ADMIN_USERNAME || 'admin',
    KEYCLOAK_ADMIN_PASSWORD: process.env.KEYCLOAK_ADMIN_PASSWORD || 'admin',
    PUBLIC_URL: publicUrl,
    SESSION_PASSWORD: secrets.sessionPassword,
    NUXT_SESSION_PASSWORD: secrets.sessionPassword,
  }
  const state = {
    name,
    dir,
    owner: process.pid,
    ports: resolved,
    external,
    java,
    kafkaLibs,
    keycloakDist,
    secrets,
    env,
    extraRedirectUris,
    kafkaProxySlots,
  }
  writeAtomic(path.join(dir, 'stack.json'), JSON.stringify(state, null, 2))
  const stack = new Stack(state, { owned: true })
  activeStacks.add(stack)
  stack.writeEnvFile()

  // MariaDB, Redis and Kafka are quick; Keycloak is the long pole: start all at once
  const t0 = Date.now()
  const starts = SERVICES.filter((s) => !external[s]).map((s) => stack.startService(s))
  try {
    await Promise.all(starts)
  } catch (err) {
    // fail fast: abort the other starts, wait for them, stop whatever runs
    stack.aborted = true
    await Promise.allSettled(starts)
    await stack.stop()
    throw err
  }
  if (withNginx) {
    try {
      await stack.startNginx(typeof withNginx === 'object' ? withNginx : {})
    } catch (e) {
      await stack.stop()
      throw e
    }
  }
  ok(`${name} stack up in ${((Date.now() - t0) / 1000).toFixed(1)}s ${c.dim(`(logs: ${stack.logsDir})`)}`)
  return stack
}

/** Stops every stack this process started (e.g. after an error in an entry script). */
export async function stopAll() {
  await Promise.all([...activeStacks].map((st) => st.stop()))
}

/**
 * Ctrl-C / SIGTERM / SIGHUP → the commands in the foreground (runVisible: vitest, nuxt dev …) are
 * terminated, then `cleanup()` runs once, then every stack this process started is stopped
 * (also one still starting), then exit 130/143. A second Ctrl-C forces the exit. Returns a function
 * that removes the handlers.
 */
export function onShutdown(cleanup = () => {}) {
  let count = 0
  const handler = (signal) => {
    count++
    if (count > 1) {
      warn('second signal: exiting now')
      process.exit(130)
    }
    process.stdout.write('\n')
    log(`${signal}: shutting down …`)
    terminateForeground()
      .then(cleanup)
      .catch((e) => warn(`shutdown: ${e.message}`))
      .then(stopAll)
      .catch((e) => warn(`shutdown: ${e.message}`))
      .finally(() => process.exit(signal === 'SIGINT' ? 130 : 143))
  }
  process.on('SIGINT', handler)
  process.on('SIGTERM', handler)
  process.on('SIGHUP', handler)
  return () => {
    process.off('SIGINT', handler)
    process.off('SIGTERM', handler)
    process.off('SIGHUP', handler)
  }
}
