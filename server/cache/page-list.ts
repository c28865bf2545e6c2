import type { RedisClient } from '../redis/client'

/**
 * The L2 encoding of one page: a Redis list whose first element is the meta JSON
 * `{ "v": 1, "total": <n> }` and whose other elements are the items, one JSON document each.
 * An empty page is just the meta element, so "no key" (a miss) and "no items" stay distinct.
 */
const VERSION = 1

export interface CachedList<T> { items: T[], total: number, bytes: number }

export async function readList<T>(client: RedisClient, key: string): Promise<CachedList<T> | null> {
  const raw = await client.lrange(key, 0, -1)
  if (raw.length === 0) return null
  const meta = JSON.parse(raw[0]!) as { v?: number, total?: number }
  // Written by another version of the code: treat as a miss and let the rebuild overwrite it.
  if (meta.v !== VERSION || typeof meta.total !== 'number') return null
  let bytes = 0
  const items = raw.slice(1).map((element) => {
    bytes += element.length
    return JSON.parse(element) as T
  })
  return { items, total: meta.total, bytes }
}

/** Replaces the list atomically (one key, so this MULTI is valid on a Cluster too). */
export async function writeList<T>(client: RedisClient, key: string, items: T[], total: number, ttlMs: number): Promise<number> {
  const elements = [JSON.stringify({ v: VERSION, total }), ...items.map((item) => JSON.stringify(item))]
  const results = await client.multi().del(key).rpush(key, ...elements).pexpire(key, ttlMs).exec()
  const failed = results?.find(([error]) => error)
  if (!results || failed) throw failed?.[0] ?? new Error(`MULTI on ${key} was aborted`)
  return elements.reduce((sum, e) => sum + e.length, 0)
}
