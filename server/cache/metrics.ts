/**
 * Plain counters of the catalogue cache, kept dependency-free so the metrics endpoint can read them
 * (e.g. as prom-client counters with `collect()`), and tests can observe them.
 */
export const cacheStats = {
  l1Hit: 0,
  l1Miss: 0,
  l2Hit: 0,
  l2Miss: 0,
  /** MySQL reads made to fill the cache (or to answer with caching off). */
  dbLoad: 0,
  /** Page rebuilds that found the mutex held by another process. */
  lockContended: 0,
  /** Lock-losers answered with an expired L1 copy. */
  staleServed: 0,
  /** Lock-losers answered with TRY_AGAIN_LATER. */
  tryAgainLater: 0,
  /** Watchdog extensions of a rebuild's mutex, and extensions that failed (lock lost). */
  lockExtended: 0,
  lockLost: 0,
  /** Invalidation messages applied (including reconnect clears). */
  invalidations: 0,
}

export type CacheStat = keyof typeof cacheStats

export function resetCacheStats(): void {
  for (const name of Object.keys(cacheStats) as CacheStat[]) cacheStats[name] = 0
}
