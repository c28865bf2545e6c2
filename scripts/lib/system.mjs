// System packages (apt) and the JDKs the Java services need.
import fs from 'node:fs'
import path from 'node:path'
import { spawnSync } from 'node:child_process'
import { JEMALLOC_PATHS } from './node-runtime.mjs'
import { log, ok, warn, which, secs, run } from './util.mjs'

const isRoot = process.getuid?.() === 0
let aptUpdated = false

async function apt(args) {
  const cmd = isRoot ? 'apt-get' : 'sudo'
  const full = isRoot ? args : ['-E', 'apt-get', ...args]
  await run(cmd, full, { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }, quiet: false })
}

export async function aptInstall(pkgs) {
  if (!which('apt-get')) throw new Error(`missing ${pkgs.join(', ')} and no apt-get on this machine: install them by hand`)
  if (!aptUpdated) {
    log('apt-get update')
    await apt(['update', '-q'])
    aptUpdated = true
  }
  const t0 = Date.now()
  log(`apt-get install ${pkgs.join(' ')}`)
  await apt(['install', '-y', '-q', ...pkgs])
  ok(`installed ${pkgs.join(' ')} in ${secs(t0)}`)
}

const SYSTEM_PACKAGES = [
  { pkg: 'mariadb-server', bins: ['mariadbd', 'mysqld'] },
  { pkg: 'redis-server', bins: ['redis-server'] },
  { pkg: 'nginx', bins: ['nginx'] },
  { pkg: 'chromium', bins: ['chromium'] },
  { pkg: 'unzip', bins: ['unzip'] },
  // the clock-skew fault test runs a web instance under faketime (libfaketime)
  { pkg: 'faketime', bins: ['faketime'] },
  // the Prometheus `npm start` runs, and promtool for the rule and metrics checks of npm test
  { pkg: 'prometheus', bins: ['prometheus'] },
  // self-signed certificates for the TLS tests (tests/security/edge.test.ts)
  { pkg: 'openssl', bins: ['openssl'] },
  // the allocator of the web and worker processes (appNodeEnv in scripts/lib/node-runtime.mjs)
  { pkg: 'libjemalloc2', files: JEMALLOC_PATHS },
]

/** Finds a binary on PATH or in the sbin folders (mariadbd and nginx live in /usr/sbin). */
export function findBin(name) {
  const onPath = which(name)
  if (onPath) return onPath
  for (const dir of ['/usr/sbin', '/usr/local/sbin', '/sbin', '/usr/bin', '/usr/local/bin']) {
    const p = path.join(dir, name)
    if (fs.existsSync(p)) return p
  }
  return null
}

/**
 * Installs the Debian packages the stack needs when their binaries are missing.
 * The packages start system services on default ports; the stack never uses them.
 */
export async function ensureSystemPackages({ skip = [], packages = SYSTEM_PACKAGES } = {}) {
  const present = (p) => p.bins?.some((b) => findBin(b)) || p.files?.some((f) => fs.existsSync(f))
  const missing = packages.filter((p) => !skip.includes(p.pkg) && !present(p))
  if (missing.length === 0) {
    ok(`system packages present (${packages.map((p) => p.pkg).join(', ')})`)
    return
  }
  await aptInstall(missing.map((p) => p.pkg))
}

/** What `npm run bench` needs besides the stack: the HTTP load generator. */
export const BENCH_PACKAGES = [{ pkg: 'wrk', bins: ['wrk'] }]

function javaVersionOf(javaBin) {
  const r = spawnSync(javaBin, ['-version'], { encoding: 'utf8' })
  const m = /version "(\d+)(?:\.(\d+))?/.exec(`${r.stderr}${r.stdout}`)
  if (!m) return 0
  const major = Number(m[1])
  return major === 1 ? Number(m[2]) : major
}

function homeFromJavaBin(bin) {
  try {
    return path.resolve(path.dirname(fs.realpathSync(bin)), '..')
  } catch {
    return null
  }
}

function listJdks() {
  const found = []
  const add = (home, source) => {
    if (!home) return
    const bin = path.join(home, 'bin', 'java')
    if (!fs.existsSync(bin)) return
    if (found.some((j) => fs.realpathSync(j.bin) === fs.realpathSync(bin))) return
    const version = javaVersionOf(bin)
    if (version) found.push({ home, bin, version, source })
  }
  if (process.env.JAVA_HOME) add(process.env.JAVA_HOME, 'JAVA_HOME')
  try {
    for (const e of fs.readdirSync('/usr/lib/jvm')) add(path.join('/usr/lib/jvm', e), '/usr/lib/jvm')
  } catch {
    // no /usr/lib/jvm
  }
  const onPath = which('java')
  if (onPath) add(homeFromJavaBin(onPath), 'PATH')
  return found
}

let javaCache

/**
 * The JDKs to use: `keycloak` is ≥ 21 when one exists ($JAVA_HOME first, else the newest under
 * /usr/lib/jvm), else Java 17 with a warning; `kafka` prefers 17–21 (what Kafka 4.1 is tested on).
 * Installs openjdk-17 and maven from apt when there is no Java (or no mvn) at all.
 */
export async function ensureJava() {
  if (javaCache) return javaCache
  let jdks = listJdks()
  const needMaven = !which('mvn')
  if (jdks.length === 0 || needMaven) {
    await aptInstall([...(jdks.length === 0 ? ['openjdk-17-jdk-headless'] : []), ...(needMaven ? ['maven'] : [])])
    jdks = listJdks()
  }
  if (jdks.length === 0) throw new Error('no Java found even after installing openjdk-17-jdk-headless')
  const fromEnv = jdks.find((j) => j.source === 'JAVA_HOME' && j.version >= 21)
  const newest = [...jdks].sort((a, b) => b.version - a.version)[0]
  let keycloak = fromEnv ?? newest
  if (keycloak.version < 21) {
    warn(`Keycloak 26 wants Java ≥ 21 but the newest JDK here is ${keycloak.version} (${keycloak.home}); trying it anyway. Set JAVA_HOME to a JDK 21+ to silence this.`)
  }
  const kafka = jdks.filter((j) => j.version >= 17 && j.version <= 21).sort((a, b) => b.version - a.version)[0] ?? keycloak
  javaCache = { keycloak, kafka }
  ok(`Java: Keycloak on ${keycloak.version} (${keycloak.home}), Kafka on ${kafka.version} (${kafka.home})`)
  return javaCache
}
