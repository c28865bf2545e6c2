import { spawn, execFile, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { once } from 'node:events'
import { promisify } from 'node:util'
import { randomBytes } from 'node:crypto'
import { createConnection } from 'mysql2/promise'
import { createDb, migrateToLatest } from '../../../server/db'
import { freePort } from '../../support/processes'
import { setTimeout as sleep } from 'node:timers/promises'

/*
 * Backends of the ops tests' own: a scratch MySQL database in the stack's MariaDB and Redis servers
 * (single or a 3-master Cluster) on free loopback ports. Each ops test gets coupon ids and Redis keys
 * nobody else writes, so `auditInvariants` judges only what that test did.
 */

const run = promisify(execFile)

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = once(child, 'exit')
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000)
  await exited
  clearTimeout(timer)
}

async function redisPing(port: number): Promise<boolean> {
  try {
    const { stdout } = await run('redis-cli', ['-p', String(port), 'ping'])
    return stdout.trim() === 'PONG'
  } catch {
    return false
  }
}

function spawnRedis(port: number, dir: string, extra: string[] = []): ChildProcess {
  return spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', ...extra],
    { stdio: 'ignore' },
  )
}

export interface RedisServers {
  /** `redis://…` for a single server; empty for a cluster. */
  url: string
  /** host:port of every node (a cluster's masters and replicas). */
  nodes: string[]
  /** every redis-server process (masters and replicas), for fault tests to signal */
  servers: { port: number, child: ChildProcess }[]
  stop: () => Promise<void>
}

/** One throwaway redis-server on a free loopback port. */
export async function startRedisServer(): Promise<RedisServers> {
  const dir = mkdtempSync(join(tmpdir(), 'flash-redis-'))
  const port = await freePort()
  const child = spawnRedis(port, dir)
  for (let i = 0; i < 100 && !(await redisPing(port)); i++) await sleep(50)
  const stop = async () => {
    await stopChild(child)
    rmSync(dir, { recursive: true, force: true })
  }
  if (!(await redisPing(port))) {
    await stop()
    throw new Error(`redis-server on :${port} did not start`)
  }
  return { url: `redis://127.0.0.1:${port}`, nodes: [`127.0.0.1:${port}`], servers: [{ port, child }], stop }
}

/**
 * A Redis Cluster of `masters` redis-server processes (`--cluster-enabled yes`), each with `replicas`
 * replicas, joined with `redis-cli --cluster create … --cluster-replicas <replicas>`, ready when every
 * node reports cluster_state:ok (and every replica is linked to its master).
 */
export async function startRedisCluster(masters = 3, { replicas = 0 } = {}): Promise<RedisServers> {
  const dir = mkdtempSync(join(tmpdir(), 'flash-redis-cluster-'))
  const servers: { port: number, child: ChildProcess }[] = []
  const stop = async () => {
    for (const s of servers) s.child.kill('SIGCONT') // a stopped one cannot stop
    await Promise.all(servers.map((s) => stopChild(s.child)))
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    for (let i = 0; i < masters * (1 + replicas); i++) {
      const port = await freePort()
      const nodeDir = join(dir, String(port))
      await run('mkdir', ['-p', nodeDir])
      servers.push({
        port,
        child: spawnRedis(port, nodeDir, [
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          join(nodeDir, 'nodes.conf'),
          '--cluster-node-timeout',
          '2000',
        ]),
      })
    }
    const ports = servers.map((s) => s.port)
    for (const port of ports) for (let i = 0; i < 100 && !(await redisPing(port)); i++) await sleep(50)
    const all = ports.map((p) => `127.0.0.1:${p}`)
    await run('redis-cli', ['--cluster', 'create', ...all, '--cluster-replicas', String(replicas), '--cluster-yes'])
    const clusterOk = async (port: number) =>
      (await run('redis-cli', ['-p', String(port), 'cluster', 'info'])).stdout.includes('cluster_state:ok')
    const linked = async (port: number) => {
      const info = (await run('redis-cli', ['-p', String(port), 'info', 'replication'])).stdout
      return info.includes('role:master') || info.includes('master_link_status:up')
    }
    for (let i = 0; i < 300; i++) {
      if ((await Promise.all(ports.map(async (p) => (await clusterOk(p)) && (await linked(p))))).every(Boolean)) {
        return { url: '', nodes: all, servers, stop }
      }
      await sleep(100)
    }
    throw new Error('Redis Cluster did not reach cluster_state:ok')
  } catch (error) {
    await stop()
    throw error
  }
}

export interface ScratchDatabase {
  url: string
  drop: () => Promise<void>
}

/** A new, migrated database next to the one DATABASE_URL names (same server and credentials). */
export async function createScratchDatabase(baseUrl = process.env.DATABASE_URL!): Promise<ScratchDatabase> {
  const name = `flash_ops_${randomBytes(4).toString('hex')}`
  const url = new URL(baseUrl)
  url.pathname = `/${name}`
  const admin = await createConnection({ uri: baseUrl })
  await admin.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`)
  await admin.end()
  const scratch = createDb(url.toString(), 2)
  try {
    await migrateToLatest(scratch)
  } finally {
    await scratch.destroy()
  }
  return {
    url: url.toString(),
    drop: async () => {
      const conn = await createConnection({ uri: baseUrl })
      await conn.query(`DROP DATABASE IF EXISTS \`${name}\``)
      await conn.end()
    },
  }
}

/** Prometheus text → value of one sample (labels matched as a subset); 0 when absent. */
export function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0
  let found = false
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || !line.startsWith(name)) continue
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line)
    if (!m || m[1] !== name) continue
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]))
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) {
      total += Number(m[3])
      found = true
    }
  }
  return found ? total : 0
}

export async function scrape(url: string): Promise<string> {
  const res = await fetch(`${url}/metrics`)
  if (!res.ok) throw new Error(`${url}/metrics: ${res.status}`)
  return res.text()
}
