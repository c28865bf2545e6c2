import Redlock, { ExecutionError, ResourceLockedError, type Lock } from 'redlock'
import { redis } from '../redis/client'
import { keys } from '../redis/keys'
import { cacheStats } from './metrics'
import { log } from '../observability/log'

export type LockOutcome<T> =
  | { status: 'acquired', value: T }
  /** Another holder has the mutex. */
  | { status: 'busy' }
  /** Redis did not answer: the caller decides whether to go on without the mutex. */
  | { status: 'unavailable', error: unknown }

let redlock: Redlock | undefined
function locker(): Redlock {
  // One Redis (or one Redis Cluster: the lock key's slot decides the node), no retries: a loser
  // answers at once (stale copy or TRY_AGAIN_LATER) instead of queueing behind the holder.
  redlock ??= new Redlock([redis()], { retryCount: 0, driftFactor: 0.01 })
  return redlock
}

/** True when every vote against the lock was "already locked" (not a Redis error). */
async function isContention(error: unknown): Promise<boolean> {
  if (!(error instanceof ExecutionError)) return false
  for (const attempt of error.attempts) {
    const stats = await attempt
    for (const reason of stats.votesAgainst.values()) if (!(reason instanceof ResourceLockedError)) return false
  }
  return true
}

/**
 * Runs `work` while holding the mutex `lock:<name>`, with a watchdog (the Redisson semantics): the
 * lease is extended every lease/3 while `work` runs, so a slow holder keeps it, and a holder that
 * dies stops extending, so its lock expires within one lease. Released when `work` settles.
 */
export async function withLock<T>(name: string, leaseMs: number, work: () => Promise<T>): Promise<LockOutcome<T>> {
  const resource = keys.lock(name)
  let lock: Lock
  try {
    lock = await locker().acquire([resource], leaseMs)
  } catch (error) {
    if (await isContention(error)) return { status: 'busy' }
    return { status: 'unavailable', error }
  }

  let extending: Promise<void> | undefined
  const watchdog = setInterval(() => {
    if (extending) return
    extending = lock.extend(leaseMs)
      .then((extended) => { lock = extended; cacheStats.lockExtended++ })
      .catch((error: unknown) => {
        // The work goes on regardless: its result is still correct, only no longer exclusive.
        cacheStats.lockLost++
        log.warn('lock extension failed', { lock: resource, error })
      })
      .finally(() => { extending = undefined })
  }, Math.max(50, Math.floor(leaseMs / 3)))
  watchdog.unref?.()

  try {
    return { status: 'acquired', value: await work() }
  } finally {
    clearInterval(watchdog)
    await extending
    await lock.release().catch(() => { /* it expires by itself within one lease */ })
  }
}
