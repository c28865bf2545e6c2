import { Cluster } from 'ioredis'
import type { RedisClient } from './client'

export class EvictionPolicyError extends Error {
  override name = 'EvictionPolicyError'
}

/**
 * Stock, buyers and reservations share Redis with the caches: under any eviction policy but
 * `noeviction`, a full memory would silently drop a coupon's stock or a reservation. Throws an
 * EvictionPolicyError (naming the setting to change) unless every master runs with
 * `maxmemory-policy noeviction`; a Redis that cannot be reached throws its own error (an outage).
 */
export async function assertNoEviction(client: RedisClient): Promise<void> {
  await client.ping()
  const nodes = client instanceof Cluster ? client.nodes('master') : [client]
  for (const node of nodes) {
    const info = await node.info('memory')
    const policy = /maxmemory_policy:(\S+)/.exec(info)?.[1] ?? 'unknown'
    if (policy !== 'noeviction') {
      const where = `${node.options.host ?? 'redis'}:${node.options.port ?? ''}`
      throw new EvictionPolicyError(`Redis ${where} runs with maxmemory-policy ${policy}: it could evict stock and reservations. Start it with "maxmemory-policy noeviction" (redis.conf, or CONFIG SET maxmemory-policy noeviction).`)
    }
  }
}
