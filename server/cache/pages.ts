import { LRUCache } from 'lru-cache'
import { defineDriver } from 'unstorage'
import { log } from '../observability/log'
import { redis } from '../redis/client'
import { keys } from '../redis/keys'

/**
 * Storage of the shared page renders (nuxt.config routeRules `cache`), in Redis so every instance
 * serves and clears the same ones. Built on the app's own Redis client (one connection, Redis Cluster
 * included); an index set lists the entries so that invalidation needs no SCAN across shards.
 * Entries expire on their own after the swr window, so a page nobody asks for does not linger.
 */
const ENTRY_TTL_MS = 120_000
/**
 * Each instance also keeps the entries it read or wrote, parsed, for a second: a hot page is then
 * served without a Redis round trip or a JSON parse. Cleared with the shared copies on invalidation.
 */
const LOCAL_TTL_MS = 1_000
const local = new LRUCache<string, object>({ max: 500, ttl: LOCAL_TTL_MS })
/** A render that read stale data just before this instance's L1 was cleared may land after the first
 *  clear; the second one removes it. Both well inside the 2 s an edit may take to show. */
export const SECOND_CLEAR_MS = 1_000

export const pageRenderStorage = defineDriver(() => ({
  name: 'flash-sale-page-renders',
  async hasItem(key: string) {
    return (await redis().exists(keys.pageRender(key))) === 1
  },
  // unstorage parses a string answer and passes an object through: the local copy is served as is.
  async getItem(key: string) {
    const hit = local.get(key)
    if (hit) return hit
    const raw = await redis().get(keys.pageRender(key))
    if (raw === null) return null
    const entry = JSON.parse(raw) as object
    local.set(key, entry)
    return entry
  },
  async setItem(key: string, value: string) {
    local.set(key, JSON.parse(value) as object)
    await Promise.all([
      redis().set(keys.pageRender(key), value, 'PX', ENTRY_TTL_MS),
      redis().sadd(keys.pageRenderIndex, key),
    ])
  },
  async removeItem(key: string) {
    local.delete(key)
    await Promise.all([redis().unlink(keys.pageRender(key)), redis().srem(keys.pageRenderIndex, key)])
  },
  async getKeys() {
    return await redis().smembers(keys.pageRenderIndex)
  },
  async clear() {
    await clearPageRenders()
  },
}))

/** Removes every cached page render (a coupon's edit shows on the catalogue pages and its own page). */
export async function clearPageRenders(): Promise<number> {
  local.clear()
  const client = redis()
  const entries = await client.smembers(keys.pageRenderIndex)
  if (!entries.length) return 0
  await Promise.all(entries.map((key) => client.unlink(keys.pageRender(key))))
  // SREM (not DEL) of what was read: an entry written meanwhile stays listed for the next clear.
  await client.srem(keys.pageRenderIndex, ...entries)
  return entries.length
}

/** Clears now and once more a moment later (see SECOND_CLEAR_MS); failures are logged, not thrown. */
export function schedulePageRenderClear(): void {
  const clear = () => clearPageRenders().catch((error: unknown) => log.warn('page render clear failed', { error }))
  clear()
  setTimeout(clear, SECOND_CLEAR_MS).unref()
}

const MAX_PAGE = 10_000

/**
 * The one URL of each cached page, so that made-up query strings cannot fill Redis with copies:
 * `/` (with `?page=n` for n ≥ 2) and `/coupons/<id>`. Returns where to redirect, or undefined when the
 * URL is already canonical (or not a cached page at all).
 */
export function canonicalPageUrl(url: string): string | undefined {
  const q = url.indexOf('?')
  const path = q < 0 ? url : url.slice(0, q)
  const query = q < 0 ? '' : url.slice(q + 1)
  if (path === '/') {
    if (!query) return undefined
    const params = new URLSearchParams(query)
    const page = Number(params.get('page'))
    const canonical = Number.isInteger(page) && page >= 2 && page <= MAX_PAGE ? `/?page=${page}` : '/'
    return canonical === url ? undefined : canonical
  }
  const coupon = /^\/coupons\/(\d{1,10})\/?$/.exec(path)
  if (!coupon) return undefined
  const canonical = `/coupons/${Number(coupon[1])}`
  return canonical === url ? undefined : canonical
}
