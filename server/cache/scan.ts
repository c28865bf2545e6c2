import { Cluster } from 'ioredis'
import type { Redis } from 'ioredis'
import type { RedisClient } from '../redis/client'

/** Deletes every key matching `pattern`, on each master of a Cluster (SCAN is per node). */
export async function unlinkMatching(client: RedisClient, pattern: string): Promise<number> {
  const nodes: Redis[] = client instanceof Cluster ? client.nodes('master') : [client]
  let removed = 0
  for (const node of nodes) {
    let cursor = '0'
    do {
      const [next, found] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 500)
      cursor = next
      // One UNLINK per key: in a Cluster, keys of one batch can live in different slots.
      if (found.length) removed += (await Promise.all(found.map((key) => node.unlink(key)))).reduce((a, b) => a + b, 0)
    } while (cursor !== '0')
  }
  return removed
}
