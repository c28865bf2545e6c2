// How each infrastructure service is started and checked. Used through scripts/lib/stack.mjs.
import crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { ROOT, log, ok, warn, run, sleep, secs, mkdirp, lastLines, canConnect, httpStatus, renderTemplate } from './util.mjs'
import { startProcess, stopProcess } from './proc.mjs'
import { findBin } from './system.mjs'
import { ensureGoTool, TOXIPROXY } from './go-tools.mjs'

export const REALM = 'flash-sale'
export const WEB_CLIENT_ID = 'flash-sale-web'
export const CLI_CLIENT_ID = 'flash-sale-cli'

export class ServiceError extends Error {}

function failure(msg, logFile) {
  const tail = lastLines(logFile, 20)
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n')
  return new ServiceError(`${msg}\n  log: ${logFile}\n  last lines:\n${tail}`)
}

/**
 * Starts a child process and polls `ready()` until it answers true. On timeout or early exit the
 * process is stopped and the error names the service, its log and the log's last 20 lines.
 */
export async function launch(stack, { key, label, port, cmd, args, env, cwd, ready, timeoutMs, logName }) {
  const logFile = path.join(stack.logsDir, `${logName ?? key}.log`)
  const t0 = Date.now()
  if (stack.aborted) throw new ServiceError(`${label}: not started (the stack is stopping)`)
  log(`starting ${label} on :${port} …`)
  const handle = startProcess(key, cmd, args, { env, cwd, logFile, killOnExit: stack.owned })
  stack.track(key, handle)
  let lastErr
  // Keeps this process alive while it waits: the child is unref'd, and a readiness check may be
  // waiting on nothing that holds the event loop (the process would otherwise end quietly, exit 0).
  const keepAlive = setInterval(() => {}, 1_000)
  try {
    return await waitReady()
  } finally {
    clearInterval(keepAlive)
  }

  async function waitReady() {
  for (;;) {
    if (handle.exitCode !== undefined) {
      stack.untrack(key)
      throw failure(`${label} exited (${handle.exitCode}) before it was ready${lastErr ? ` — last check: ${lastErr.message.split('\n')[0]}` : ''}`, logFile)
    }
    try {
      if (await ready(handle)) break
    } catch (e) {
      lastErr = e
    }
    if (stack.aborted) {
      await stopProcess(handle, 5000)
      stack.untrack(key)
      throw new ServiceError(`${label}: start aborted (another service failed)`)
    }
    if (Date.now() - t0 > timeoutMs) {
      await stopProcess(handle, 3000)
      stack.untrack(key)
      throw failure(`${label} was not ready within ${Math.round(timeoutMs / 1000)}s${lastErr ? ` — last check: ${lastErr.message.split('\n')[0]}` : ''}`, logFile)
    }
    await sleep(250)
  }
  ok(`${label} ready on :${port} in ${secs(t0)}`)
  return handle
  }
}

// ------------------------------------------------------------------ MariaDB

function mariadbSocket(stack) {
  const p = path.join(stack.dir, 'mariadb', 'mysqld.sock')
  if (p.length < 100) return p
  // unix socket paths are limited to ~107 bytes
  const h = crypto.createHash('sha1').update(stack.dir).digest('hex').slice(0, 12)
  return path.join(os.tmpdir(), `flash-sale-mysqld-${h}.sock`)
}

export function mariadbClientArgs(stack) {
  return ['--no-defaults', '-uroot', `--socket=${mariadbSocket(stack)}`]
}

export async function startMariadb(stack) {
  const port = stack.ports.mysql
  const base = mkdirp(path.join(stack.dir, 'mariadb'))
  const data = path.join(base, 'data')
  const socket = mariadbSocket(stack)
  const asRoot = process.getuid?.() === 0
  const server = findBin('mariadbd') ?? findBin('mysqld')
  if (!server) throw new ServiceError('mariadbd not found (install mariadb-server)')
  if (!fs.existsSync(path.join(data, 'mysql'))) {
    const t0 = Date.now()
    const tmp = `${data}.tmp`
    fs.rmSync(tmp, { recursive: true, force: true })
    mkdirp(tmp)
    const installDb = findBin('mariadb-install-db') ?? findBin('mysql_install_db')
    await run(installDb, [
      '--no-defaults',
      `--datadir=${tmp}`,
      '--auth-root-authentication-method=normal',
      '--skip-test-db',
      ...(asRoot ? ['--user=root'] : []),
    ])
    fs.rmSync(data, { recursive: true, force: true })
    fs.renameSync(tmp, data)
    ok(`MariaDB data directory initialised in ${secs(t0)}`)
  }
  fs.rmSync(socket, { force: true })
  const client = findBin('mariadb') ?? findBin('mysql')
  const args = [
    '--no-defaults',
    `--datadir=${data}`,
    `--socket=${socket}`,
    `--port=${port}`,
    '--bind-address=127.0.0.1',
    `--pid-file=${path.join(base, 'mariadbd.pid')}`,
    '--innodb-buffer-pool-size=256M',
    '--max-connections=500',
    '--character-set-server=utf8mb4',
    '--collation-server=utf8mb4_unicode_ci',
    '--default-time-zone=+00:00',
    '--skip-name-resolve',
    ...(asRoot ? ['--user=root'] : []),
  ]
  const handle = await launch(stack, {
    key: 'mariadb',
    label: 'MariaDB',
    port,
    cmd: server,
    args,
    timeoutMs: 60_000,
    ready: async () =>
      (await canConnect(port)) && (await run(client, [...mariadbClientArgs(stack), '-e', 'SELECT 1'], { timeoutMs: 5000 }), true),
  })
  const sql = `
    CREATE DATABASE IF NOT EXISTS flash_sale CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
    CREATE USER IF NOT EXISTS 'flash'@'127.0.0.1' IDENTIFIED BY 'flash';
    CREATE USER IF NOT EXISTS 'flash'@'localhost' IDENTIFIED BY 'flash';
    CREATE USER IF NOT EXISTS 'flash'@'::1' IDENTIFIED BY 'flash';
    GRANT ALL PRIVILEGES ON *.* TO 'flash'@'127.0.0.1' WITH GRANT OPTION;
    GRANT ALL PRIVILEGES ON *.* TO 'flash'@'localhost' WITH GRANT OPTION;
    GRANT ALL PRIVILEGES ON *.* TO 'flash'@'::1' WITH GRANT OPTION;
    FLUSH PRIVILEGES;`
  await run(client, mariadbClientArgs(stack), { input: sql })
  return handle
}

// ------------------------------------------------------------------ Redis

export async function startRedis(stack) {
  const port = stack.ports.redis
  const dir = mkdirp(path.join(stack.dir, 'redis'))
  const server = findBin('redis-server')
  const cli = findBin('redis-cli')
  return launch(stack, {
    key: 'redis',
    label: 'Redis',
    port,
    cmd: server,
    args: [
      '--port', String(port),
      '--bind', '127.0.0.1',
      '--dir', dir,
      '--appendonly', 'yes',
      '--appendfsync', 'everysec',
      '--save', '',
      '--daemonize', 'no',
      '--logfile', '',
      '--pidfile', path.join(dir, 'redis.pid'),
      '--maxclients', '10000',
      '--maxmemory-policy', 'noeviction',
    ],
    timeoutMs: 30_000,
    ready: async () => {
      if (!(await canConnect(port))) return false
      const { stdout } = await run(cli, ['-p', String(port), 'ping'], { timeoutMs: 3000 })
      return stdout.trim() === 'PONG'
    },
  })
}

// ------------------------------------------------------------------ Kafka

export const KAFKA_TOPICS = [
  { name: 'payment-requests', partitions: 6 },
  { name: 'payment-requests.dlq', partitions: 6 },
]

export const KAFKA_LOG4J = `# Written by scripts/lib/services.mjs
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRefs = stdout
rootLogger.appenderRef.stdout.ref = STDOUT
logger.state.name = state.change.logger
logger.state.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.controller.name = kafka.controller
logger.controller.level = INFO
logger.zk.name = org.apache.kafka.clients
logger.zk.level = WARN
`
export const TOOLS_LOG4J = `status = error
appender.console.type = Console
appender.console.name = STDERR
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.stderr.ref = STDERR
`

function kafkaJava(stack, heap, extra = []) {
  const kdir = path.join(stack.dir, 'kafka')
  return [
    ...heap,
    '-XX:+UseG1GC',
    '-XX:MaxGCPauseMillis=20',
    '-Djava.awt.headless=true',
    `-Dkafka.logs.dir=${path.join(kdir, 'logs')}`,
    ...extra,
    '-cp',
    path.join(stack.kafkaLibs, '*'),
  ]
}

function toolJava(stack) {
  const kdir = path.join(stack.dir, 'kafka')
  return [
    '-Xmx128m',
    '-XX:TieredStopAtLevel=1',
    '-XX:+UseSerialGC',
    `-Dlog4j2.configurationFile=${path.join(kdir, 'tools-log4j2.properties')}`,
    '-cp',
    path.join(stack.kafkaLibs, '*'),
  ]
}

export async function createKafkaTopics(stack, topics = KAFKA_TOPICS) {
  const kdir = path.join(stack.dir, 'kafka')
  await Promise.all(
    topics.map((t) =>
      run(
        stack.java.kafka.bin,
        [
          ...toolJava(stack),
          'org.apache.kafka.tools.TopicCommand',
          '--bootstrap-server', `127.0.0.1:${stack.ports.kafka}`,
          '--command-config', path.join(kdir, 'tools.properties'),
          '--create', '--if-not-exists',
          '--topic', t.name,
          '--partitions', String(t.partitions),
          '--replication-factor', '1',
        ],
        { timeoutMs: 30_000 },
      ),
    ),
  )
}

/**
 * server.properties of a combined KRaft node (broker + controller): the one broker config of the
 * project, for the stack's single node and for the tests' 3-node cluster
 * (tests/ops/support/kafka-cluster.ts). `voters` ('1@host:port,…') makes it one node of a static
 * quorum with replication 3 and min.insync.replicas 2; without it, a standalone node with
 * replication 1. `proxied` ([{ name, port, advertisedPort }]): more listeners, each advertised at the
 * port of a proxy in front of it (the test stack's Toxiproxy slots, see Stack.kafkaProxySlots).
 */
export function kafkaServerProperties({ nodeId = 1, port, controllerPort, dataDir, voters, proxied = [] }) {
  const replicas = voters ? 3 : 1
  const minIsr = voters ? 2 : 1
  // a client that bootstraps through a proxied listener is told the broker is at the proxy's port,
  // so every later connection of that client goes through the proxy too
  const listen = (l) => `${l.name}://127.0.0.1:${l.port}`
  const advertise = (l) => `${l.name}://127.0.0.1:${l.advertisedPort}`
  const extra = (f) => proxied.map((l) => `,${f(l)}`).join('')
  return `# Written by scripts/lib/services.mjs — combined KRaft node ${nodeId}${voters ? ` of a ${voters.split(',').length}-node quorum` : ' (standalone)'}
process.roles=broker,controller
node.id=${nodeId}
${voters ? `controller.quorum.voters=${voters}` : `controller.quorum.bootstrap.servers=127.0.0.1:${controllerPort}`}
listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}${extra(listen)}
advertised.listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}${extra(advertise)}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT${extra((l) => `${l.name}:PLAINTEXT`)}
log.dirs=${dataDir}
num.partitions=6
default.replication.factor=${replicas}
min.insync.replicas=${minIsr}
unclean.leader.election.enable=false
offsets.topic.replication.factor=${replicas}
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=${replicas}
transaction.state.log.min.isr=${minIsr}
transaction.state.log.num.partitions=6
share.coordinator.state.topic.replication.factor=${replicas}
share.coordinator.state.topic.min.isr=${minIsr}
group.initial.rebalance.delay.ms=0
log.retention.hours=24
log.segment.bytes=104857600
num.network.threads=2
num.io.threads=${voters ? 2 : 4}
${voters ? `# a killed broker is fenced (and its partitions get new leaders) after 3 s instead of 9 s
broker.session.timeout.ms=3000
broker.heartbeat.interval.ms=500
` : ''}`
}

export async function startKafka(stack) {
  const port = stack.ports.kafka
  const cport = stack.ports.kafkaController
  const kdir = mkdirp(path.join(stack.dir, 'kafka'))
  const data = path.join(kdir, 'data')
  mkdirp(path.join(kdir, 'logs'))
  const java = stack.java.kafka.bin
  // The controller's address is stored in the KRaft log at format time: a different controller port
  // needs a fresh log.
  const metaFile = path.join(kdir, 'format.json')
  const meta = fs.existsSync(metaFile) ? JSON.parse(fs.readFileSync(metaFile, 'utf8')) : null
  if (meta && meta.controllerPort !== cport && fs.existsSync(data)) {
    warn(`Kafka controller port changed (${meta.controllerPort} → ${cport}): starting Kafka with empty data`)
    fs.rmSync(data, { recursive: true, force: true })
  }
  const props = kafkaServerProperties({ port, controllerPort: cport, dataDir: data, proxied: stack.kafkaProxySlots })
  fs.writeFileSync(path.join(kdir, 'server.properties'), props)
  fs.writeFileSync(path.join(kdir, 'log4j2.properties'), KAFKA_LOG4J)
  fs.writeFileSync(path.join(kdir, 'tools-log4j2.properties'), TOOLS_LOG4J)
  fs.writeFileSync(path.join(kdir, 'tools.properties'), 'request.timeout.ms=5000\ndefault.api.timeout.ms=10000\n')
  if (!fs.existsSync(path.join(data, 'meta.properties'))) {
    const t0 = Date.now()
    const idFile = path.join(kdir, 'cluster-id')
    let clusterId = fs.existsSync(idFile) ? fs.readFileSync(idFile, 'utf8').trim() : ''
    if (!clusterId) {
      // StorageTool random-uuid is a base64url-encoded random UUID: make the same here (no JVM start)
      // (and, like Kafka's Uuid, never one starting with '-', which would read as an option)
      do {
        const b = crypto.randomBytes(16)
        b[6] = (b[6] & 0x0f) | 0x40
        b[8] = (b[8] & 0x3f) | 0x80
        clusterId = b.toString('base64url')
      } while (clusterId.startsWith('-'))
      fs.writeFileSync(idFile, `${clusterId}\n`)
    }
    await run(java, [
      ...toolJava(stack),
      'kafka.tools.StorageTool',
      'format', '--standalone', '-t', clusterId, '-c', path.join(kdir, 'server.properties'), '--ignore-formatted',
    ])
    fs.writeFileSync(metaFile, JSON.stringify({ clusterId, controllerPort: cport }))
    ok(`Kafka storage formatted in ${secs(t0)}`)
  }
  let topicsMade = false
  return launch(stack, {
    key: 'kafka',
    label: 'Kafka',
    port,
    cmd: java,
    args: [
      ...kafkaJava(stack, ['-Xms256m', '-Xmx512m'], [`-Dlog4j2.configurationFile=${path.join(kdir, 'log4j2.properties')}`]),
      'kafka.Kafka',
      path.join(kdir, 'server.properties'),
    ],
    timeoutMs: 120_000,
    ready: async () => {
      if (!(await canConnect(port))) return false
      if (!topicsMade) {
        await createKafkaTopics(stack)
        topicsMade = true
      }
      return true
    },
  })
}

/**
 * Kafka's own view of a consumer group's members (ConsumerGroupCommand --describe --members
 * --verbose, through the broker's direct listener): [{ consumerId, host, clientId, partitions,
 * assignment: ['topic-0', …] }], empty when the group has no active member.
 */
export async function describeGroupMembers(stack, group) {
  const { stdout } = await run(
    stack.java.kafka.bin,
    [
      ...toolJava(stack),
      'org.apache.kafka.tools.consumer.group.ConsumerGroupCommand',
      '--bootstrap-server', `127.0.0.1:${stack.ports.kafka}`,
      '--command-config', path.join(stack.dir, 'kafka', 'tools.properties'),
      '--describe', '--group', group, '--members', '--verbose',
    ],
    { timeoutMs: 30_000 },
  )
  // a table whose columns start where their headers do: GROUP, CONSUMER-ID, HOST, CLIENT-ID,
  // #PARTITIONS, then ASSIGNMENT (older Kafka) or CURRENT-EPOCH, CURRENT-ASSIGNMENT, … (Kafka 4)
  const lines = stdout.split('\n').filter((l) => l.trim())
  const header = lines.find((l) => l.startsWith('GROUP') && l.includes('CONSUMER-ID'))
  if (!header) return [] // "Consumer group '…' has no active members."
  const columns = [...header.matchAll(/\S+/g)].map((m) => ({ name: m[0], start: m.index }))
  return lines.slice(lines.indexOf(header) + 1).map((line) => {
    const cell = (name) => {
      const i = columns.findIndex((c) => c.name === name)
      return i === -1 ? '' : line.slice(columns[i].start, columns[i + 1]?.start ?? line.length).trim()
    }
    return {
      consumerId: cell('CONSUMER-ID'),
      host: cell('HOST'),
      clientId: cell('CLIENT-ID'),
      partitions: Number(cell('#PARTITIONS')),
      assignment: assignmentOf(cell('CURRENT-ASSIGNMENT') || cell('ASSIGNMENT')),
    }
  })
}

/** 'payment-requests:0,1,2' (Kafka 4) or 'payment-requests(0,1,2), other(3)' → ['payment-requests-0', …]; '-' → [] */
function assignmentOf(text) {
  return [...text.matchAll(/([\w.-]+?)[:(]([\d,]+)\)?/g)].flatMap(([, topic, parts]) => parts.split(',').filter(Boolean).map((p) => `${topic}-${p}`))
}

// ------------------------------------------------------------------ Toxiproxy

/** Toxiproxy's server, its HTTP API on 127.0.0.1:port (built from the Go module proxy the first time). */
export async function startToxiproxyProcess(stack, port) {
  const bin = await ensureGoTool(TOXIPROXY)
  return launch(stack, {
    key: 'toxiproxy',
    label: 'Toxiproxy',
    port,
    cmd: bin,
    args: ['-host', '127.0.0.1', '-port', String(port)],
    // its info lines name every connection it proxies
    env: { ...process.env, LOG_LEVEL: 'warn' },
    timeoutMs: 30_000,
    ready: async () => (await httpStatus(`http://127.0.0.1:${port}/version`, 1000)) === 200,
  })
}

// ------------------------------------------------------------------ Keycloak

/**
 * A Keycloak home of this stack's own: config, build output (lib/quarkus) and data (H2 database,
 * import dir) are per stack; the big read-only jar folder (lib/lib) is a symlink into the cache.
 */
function keycloakHome(stack) {
  const home = path.join(stack.dir, 'keycloak', 'home')
  const marker = path.join(home, '.layout')
  const dist = stack.keycloakDist
  if (fs.existsSync(marker) && fs.readFileSync(marker, 'utf8') === dist) return home
  const tmp = `${home}.tmp`
  fs.rmSync(tmp, { recursive: true, force: true })
  mkdirp(path.join(tmp, 'lib'))
  for (const p of ['bin', 'conf', 'providers', 'themes', 'lib/app', 'lib/quarkus', 'lib/quarkus-run.jar', 'version.txt']) {
    // lib/quarkus: the dev-mode build of an earlier stack when there is one (saves Keycloak's
    // "Updating the configuration" step, 20–60 s); Keycloak rebuilds by itself if options differ
    const augmented = augmentedDir(stack)
    const src = p === 'lib/quarkus' && fs.existsSync(path.join(augmented, '.complete')) ? augmented : path.join(dist, p)
    if (fs.existsSync(src)) fs.cpSync(src, path.join(tmp, p), { recursive: true, preserveTimestamps: true })
  }
  fs.rmSync(path.join(tmp, 'lib', 'quarkus', '.complete'), { force: true })
  fs.symlinkSync(path.join(dist, 'lib', 'lib'), path.join(tmp, 'lib', 'lib'))
  fs.writeFileSync(path.join(tmp, '.layout'), dist)
  // keep the H2 data of an earlier home (different cache path)
  if (fs.existsSync(path.join(home, 'data'))) fs.renameSync(path.join(home, 'data'), path.join(tmp, 'data'))
  fs.rmSync(home, { recursive: true, force: true })
  fs.renameSync(tmp, home)
  return home
}

function augmentedDir(stack) {
  return path.join(path.dirname(stack.keycloakDist), 'augmented-dev')
}

/** Keeps this stack's dev-mode build of Keycloak in the cache for the next stacks. */
function saveAugmented(stack, home) {
  const final = augmentedDir(stack)
  if (fs.existsSync(path.join(final, '.complete'))) return
  const tmp = `${final}.tmp-${process.pid}`
  try {
    fs.rmSync(tmp, { recursive: true, force: true })
    fs.cpSync(path.join(home, 'lib', 'quarkus'), tmp, { recursive: true, preserveTimestamps: true })
    fs.writeFileSync(path.join(tmp, '.complete'), new Date().toISOString())
    fs.renameSync(tmp, final)
  } catch {
    // another stack saved it first (or the cache is read-only): not needed
    fs.rmSync(tmp, { recursive: true, force: true })
  }
}

export function renderRealm(stack) {
  const template = JSON.parse(fs.readFileSync(path.join(ROOT, 'keycloak', 'realm-flash-sale.json'), 'utf8'))
  const vars = { PUBLIC_URL: stack.publicUrl, WEB_CLIENT_SECRET: stack.secrets.webClientSecret }
  const walk = (v) => {
    if (typeof v === 'string') return renderTemplate(v, vars)
    if (Array.isArray(v)) return v.map(walk)
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]))
    return v
  }
  const realm = walk(template)
  const web = realm.clients.find((cl) => cl.clientId === WEB_CLIENT_ID)
  web.redirectUris = [...new Set([...web.redirectUris, ...stack.redirectUris()])]
  return realm
}

export async function startKeycloak(stack) {
  const port = stack.ports.keycloak
  const home = keycloakHome(stack)
  const importDir = mkdirp(path.join(home, 'data', 'import'))
  fs.writeFileSync(path.join(importDir, 'realm-flash-sale.json'), JSON.stringify(renderRealm(stack), null, 2))
  const java = stack.java.keycloak
  const env = {
    ...process.env,
    JAVA_HOME: java.home,
    KC_BOOTSTRAP_ADMIN_USERNAME: 'admin',
    KC_BOOTSTRAP_ADMIN_PASSWORD: 'admin',
    JAVA_OPTS_KC_HEAP: '-Xms64m -Xmx768m',
  }
  for (const k of Object.keys(env)) if (k.startsWith('KC_') && !k.startsWith('KC_BOOTSTRAP_ADMIN_')) delete env[k]
  const discovery = `http://127.0.0.1:${port}/realms/${REALM}/.well-known/openid-configuration`
  const handle = await launch(stack, {
    key: 'keycloak',
    label: 'Keycloak',
    port,
    cmd: path.join(home, 'bin', 'kc.sh'),
    args: [
      'start-dev',
      `--http-port=${port}`,
      '--http-host=127.0.0.1',
      `--hostname=http://localhost:${port}`,
      '--import-realm',
      '--health-enabled=true',
      `--http-management-port=${stack.ports.keycloakManagement}`,
      '--cache=local',
    ],
    cwd: home,
    env,
    timeoutMs: 240_000,
    ready: async () => (await httpStatus(discovery, 3000)) === 200,
  })
  saveAugmented(stack, home)
  await syncWebClient(stack)
  return handle
}

/** A master-realm admin token (admin-cli). */
export async function keycloakAdminToken(keycloakUrl, username = 'admin', password = 'admin') {
  const res = await fetch(`${keycloakUrl}/realms/master/protocol/openid-connect/token`, {
    method: 'POST',
    body: new URLSearchParams({ grant_type: 'password', client_id: 'admin-cli', username, password }),
  })
  if (!res.ok) throw new Error(`Keycloak admin login failed: ${res.status} ${await res.text()}`)
  return (await res.json()).access_token
}

/**
 * Makes the realm's web client match this stack (public URL, secret, redirect URIs): the realm is
 * imported only once, so a changed port or an extra redirect URI is applied here.
 */
export async function syncWebClient(stack, extraRedirectUris = []) {
  const base = stack.env.KEYCLOAK_URL
  const token = await keycloakAdminToken(base)
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' }
  const list = await fetch(`${base}/admin/realms/${REALM}/clients?clientId=${WEB_CLIENT_ID}`, { headers })
  if (!list.ok) throw new Error(`Keycloak admin API: ${list.status} ${await list.text()}`)
  const [client] = await list.json()
  if (!client) throw new Error(`client ${WEB_CLIENT_ID} missing from realm ${REALM}`)
  const pub = stack.publicUrl
  const redirectUris = [...new Set([`${pub}/auth/keycloak/callback`, ...stack.redirectUris(), ...extraRedirectUris])]
  const updated = {
    ...client,
    secret: stack.secrets.webClientSecret,
    rootUrl: pub,
    baseUrl: `${pub}/`,
    redirectUris,
    webOrigins: [pub],
    attributes: { ...client.attributes, 'post.logout.redirect.uris': `${pub}/`, 'pkce.code.challenge.method': 'S256' },
  }
  const put = await fetch(`${base}/admin/realms/${REALM}/clients/${client.id}`, { method: 'PUT', headers, body: JSON.stringify(updated) })
  if (!put.ok) throw new Error(`Keycloak admin API: updating ${WEB_CLIENT_ID} failed: ${put.status} ${await put.text()}`)
  return redirectUris
}

// ------------------------------------------------------------------ NGINX

/**
 * NGINX's limits (requests per second, and the burst NGINX lets through at once), each overridable by
 * an option of renderNginx or an NGINX_* variable (the camelCase name in upper snake case, e.g.
 * NGINX_ADDRESS_PURCHASE_RATE). Why these numbers:
 * - purchase (per shopper, keyed by the bearer token or session cookie): twice the app's per-user
 *   PURCHASE_RATE_LIMIT (10/s), so NGINX only sheds a flood and the app stays the authority;
 * - addressPurchase (the ceiling for all credentials of one address): a crowd behind one address
 *   (campus, office, carrier NAT) of 300 shoppers × 4 attempts must all get through in the first
 *   second of a sale, so the burst is 1,200; made-up tokens (each a fresh key) are held by it too;
 * - anonymousWrite (per address, mutations without a credential): the app refuses them anyway;
 * - general (anonymous per address) and shopperGeneral / addressGeneral: pages, queries, assets;
 * - ws / addressWs: socket connections per shopper and per address.
 */
export const NGINX_DEFAULT_RATES = {
  purchaseRate: 20, purchaseBurst: 20,
  addressPurchaseRate: 600, addressPurchaseBurst: 1200,
  anonymousWriteRate: 5, anonymousWriteBurst: 10,
  generalRate: 200, generalBurst: 400,
  shopperGeneralRate: 50, shopperGeneralBurst: 100,
  addressGeneralRate: 2000, addressGeneralBurst: 4000,
  wsRate: 2, wsBurst: 5,
  addressWsRate: 300, addressWsBurst: 600,
}

const upperSnake = (name) => name.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()

function nginxRates(opts) {
  return Object.fromEntries(Object.entries(NGINX_DEFAULT_RATES).map(([name, fallback]) => {
    const env = process.env[`NGINX_${upperSnake(name)}`]
    return [upperSnake(name), opts[name] ?? (env ? Number(env) : fallback)]
  }))
}

/**
 * The three NGINX files (nginx.conf, locations.conf, headers.conf) rendered from nginx/*.template for
 * NGINX's folder `prefix` (conf/ holds the files; logs/ and tmp/ must exist beside it). The local
 * stacks and docker compose's copy (scripts/compose-nginx.mjs) are both made here.
 */
export function renderNginxFiles(prefix, { port, upstreams, host = '127.0.0.1', tlsCert, tlsKey, tlsPort, accessLog = `${prefix}/logs/access.log main buffer=64k flush=1s`, user = os.userInfo().username, workers = 'auto', ...rateOpts }) {
  if (!upstreams?.length) throw new Error('NGINX needs at least one upstream port')
  const tls = Boolean(tlsCert && tlsKey)
  const vars = {
    PREFIX: prefix,
    NGINX_USER: user,
    WORKER_PROCESSES: workers,
    ACCESS_LOG: accessLog || 'off',
    ...nginxRates(rateOpts),
    UPSTREAM_SERVERS: upstreams
      .map((u) => `        server ${typeof u === 'number' ? `127.0.0.1:${u}` : u} max_fails=3 fail_timeout=5s;`)
      .join('\n'),
    // With TLS, plain HTTP only redirects (and answers NGINX's own health check).
    PLAIN_SERVER: `
    server {
        listen ${host}:${port};
        server_name _;
        ${
          tls
            ? `location = /nginx-healthz { access_log off; default_type text/plain; return 200 "ok\\n"; }
        location / { return 301 https://$host${tlsPort === 443 ? '' : `:${tlsPort}`}$request_uri; }`
            : `include ${prefix}/conf/locations.conf;`
        }
    }`,
    TLS_SERVER: tls
      ? `
    server {
        listen ${host}:${tlsPort} ssl http2;
        server_name _;
        ssl_certificate ${tlsCert};
        ssl_certificate_key ${tlsKey};
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache shared:SSL:10m;
        include ${prefix}/conf/locations.conf;
    }`
      : '',
  }
  const dir = path.join(ROOT, 'nginx')
  return Object.fromEntries(
    ['nginx', 'locations', 'headers'].map((name) => [
      name,
      renderTemplate(fs.readFileSync(path.join(dir, `${name}.conf.template`), 'utf8'), vars),
    ]),
  )
}

/** Renders nginx.conf, locations.conf and headers.conf into `prefix`; returns the conf path. */
export function renderNginx(prefix, { accessLog = true, ...opts }) {
  for (const d of ['conf', 'logs', 'tmp/client_body', 'tmp/proxy', 'tmp/fastcgi', 'tmp/uwsgi', 'tmp/scgi']) mkdirp(path.join(prefix, d))
  // Workers run as the user who starts the stack: started by root, NGINX would otherwise drop them to
  // `nobody`, who cannot write request bodies into the stack's temp folders (a 0700 $TMPDIR folder
  // under npm test) and answers such uploads 500. Ignored (with a notice) when not started by root.
  const files = renderNginxFiles(prefix, { ...opts, ...(accessLog ? {} : { accessLog: 'off' }) })
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(prefix, 'conf', `${name}.conf`), text)
  return path.join(prefix, 'conf', 'nginx.conf')
}

/**
 * opts: { port, upstreams: [port|'host:port'], name='nginx', host, purchaseRate, purchaseBurst,
 * generalRate, generalBurst, tlsCert, tlsKey, tlsPort, accessLog }
 */
export async function startNginxProcess(stack, opts) {
  const name = opts.name ?? 'nginx'
  const prefix = path.join(stack.dir, name)
  const tlsCert = opts.tlsCert ?? process.env.TLS_CERT
  const tlsKey = opts.tlsKey ?? process.env.TLS_KEY
  const tlsPort = opts.tlsPort ?? Number(process.env.TLS_PORT || 8443)
  const conf = renderNginx(prefix, { ...opts, tlsCert, tlsKey, tlsPort })
  const nginx = findBin('nginx')
  const errLog = path.join(prefix, 'logs', 'error.log')
  try {
    await run(nginx, ['-t', '-q', '-p', prefix, '-c', conf, '-e', errLog])
  } catch (e) {
    throw new ServiceError(`NGINX config test failed for ${conf}:\n${e.message}`)
  }
  const handle = await launch(stack, {
    key: name,
    label: 'NGINX',
    port: opts.port,
    cmd: nginx,
    args: ['-p', prefix, '-c', conf, '-e', errLog],
    timeoutMs: 15_000,
    ready: async () => (await httpStatus(`http://127.0.0.1:${opts.port}/nginx-healthz`, 1000)) === 200,
  })
  handle.conf = conf
  handle.prefix = prefix
  return handle
}

/** Re-renders the config (e.g. other upstreams) and reloads a running NGINX without dropping connections. */
export async function reloadNginxProcess(stack, opts) {
  const name = opts.name ?? 'nginx'
  const prefix = path.join(stack.dir, name)
  const conf = renderNginx(prefix, {
    ...opts,
    tlsCert: opts.tlsCert ?? process.env.TLS_CERT,
    tlsKey: opts.tlsKey ?? process.env.TLS_KEY,
    tlsPort: opts.tlsPort ?? Number(process.env.TLS_PORT || 8443),
  })
  const nginx = findBin('nginx')
  const errLog = path.join(prefix, 'logs', 'error.log')
  await run(nginx, ['-t', '-q', '-p', prefix, '-c', conf, '-e', errLog])
  await run(nginx, ['-s', 'reload', '-p', prefix, '-c', conf, '-e', errLog])
  await sleep(300)
}
