import { LRUCache } from 'lru-cache'

interface Entry<V> { value: V, storedAt: number }

export interface L1Options {
  /** Most entries kept. */
  max: number
  /** Most bytes kept, as estimated by each entry's size at `set` time. */
  maxBytes: number
  ttlMs: number
  /** How long past its TTL an entry may still be handed out by `stale()`. */
  staleForMs: number
}

/**
 * An in-process LRU bounded by entries and bytes. Expired entries are kept (until evicted or deleted)
 * so that `stale()` can answer a caller who lost the rebuild race; `get()` never returns them.
 */
export function createL1<V extends object | string>(options: L1Options) {
  const lru = new LRUCache<string, Entry<V>>({
    max: options.max,
    maxSize: options.maxBytes,
    ttl: options.ttlMs,
    allowStale: false,
    noDeleteOnStaleGet: true,
    updateAgeOnGet: false,
  })
  return {
    get(key: string): V | undefined {
      return lru.get(key)?.value
    },
    stale(key: string): V | undefined {
      const entry = lru.get(key, { allowStale: true })
      if (!entry || Date.now() - entry.storedAt > options.ttlMs + options.staleForMs) return undefined
      return entry.value
    },
    set(key: string, value: V, sizeBytes: number, ttlMs?: number): void {
      // An entry bigger than the whole budget would evict everything else; skip caching it.
      if (sizeBytes > options.maxBytes) return
      lru.set(key, { value, storedAt: Date.now() }, { size: Math.max(1, sizeBytes), ttl: ttlMs })
    },
    delete(key: string): void {
      lru.delete(key)
    },
    clear(): void {
      lru.clear()
    },
    get size() { return lru.size },
  }
}

export type L1<V extends object | string> = ReturnType<typeof createL1<V>>
