import { Cluster, Redis } from 'ioredis'
import { config } from '../config'
import { ensureScripts } from './scripts'

export type RedisClient = Redis | Cluster

/**
 * A Redis client for the configured deployment: a single server (REDIS_URL) or a Redis Cluster
 * (REDIS_CLUSTER_NODES). Auto-pipelining batches the concurrent commands of many requests into
 * one write, which is where most of the purchase path's Redis throughput comes from. Every command
 * has a deadline (REDIS_COMMAND_TIMEOUT_MS): a stalled Redis keeps the connection open and would
 * otherwise hold each caller for as long as it stalls. A command that timed out may still run once
 * Redis wakes up, so callers treat that as an ambiguous outcome, like a cut connection.
 */
export function createRedis(options: { lazy?: boolean } = {}): RedisClient {
  const cfg = config()
  const deadlines = { commandTimeout: cfg.REDIS_COMMAND_TIMEOUT_MS, connectTimeout: 3_000, maxRetriesPerRequest: 2 }
  const common = { enableAutoPipelining: true, lazyConnect: options.lazy ?? false, ...deadlines }
  if (cfg.REDIS_CLUSTER_NODES?.length) {
    const nodes = cfg.REDIS_CLUSTER_NODES.map((hostPort) => {
      const [host, port] = hostPort.split(':')
      return { host: host!, port: Number(port) }
    })
    return withScripts(new Cluster(nodes, { enableAutoPipelining: true, lazyConnect: common.lazyConnect, redisOptions: deadlines }))
  }
  return withScripts(new Redis(cfg.REDIS_URL!, common))
}

/** The Lua scripts are defined before any command can open an auto-pipeline (see ensureScripts). */
function withScripts<T extends RedisClient>(client: T): T {
  ensureScripts(client)
  return client
}

let shared: RedisClient | undefined
/** The process-wide command connection. */
export function redis(): RedisClient {
  shared ??= createRedis()
  return shared
}

export async function closeRedis(): Promise<void> {
  const current = shared
  shared = undefined
  await current?.quit().catch(() => current.disconnect())
}
