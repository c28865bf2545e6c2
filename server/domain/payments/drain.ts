import { randomUUID } from 'node:crypto'
import type { RedisClient } from '../../redis/client'
import { keys } from '../../redis/keys'

/*
 * Draining the payment workers without stopping them: an operator sets a flag in Redis
 * (`flash-sale worker drain`); every worker sees it within a second, finishes and commits the batch
 * in hand, pauses its Kafka consumption (it stays in the group, so no rebalance moves partitions
 * around), stops re-publishing, and acknowledges the flag's token. Payment events wait in Kafka
 * meanwhile; `flash-sale worker resume` removes the flag and every worker carries on where it stopped.
 */

export const DRAIN_POLL_MS = 1_000

/** Sets the drain flag (a fresh token) and forgets earlier acknowledgements; returns the token. */
export async function requestDrain(redis: RedisClient): Promise<string> {
  const token = randomUUID()
  await redis.del(keys.workersDrained)
  await redis.set(keys.workersDrain, token)
  return token
}

export async function resumeWorkers(redis: RedisClient): Promise<boolean> {
  const [removed] = await Promise.all([redis.del(keys.workersDrain), redis.del(keys.workersDrained)])
  return removed === 1
}

/** The workers that have obeyed the drain with this token. */
export async function drainedWorkers(redis: RedisClient, token: string): Promise<string[]> {
  const acks = await redis.hgetall(keys.workersDrained)
  return Object.entries(acks).filter(([, t]) => t === token).map(([worker]) => worker)
}

export interface DrainWatch {
  /** True while the flag is set: the consumer loop stops after the chunk in hand. */
  readonly draining: boolean
  stop: () => void
}

/**
 * Worker side: polls the flag; on a new token `pause()` runs (it resolves once the batch in hand is
 * committed) and the worker acknowledges; when the flag goes, `resume()` runs.
 */
export function watchDrain(
  redis: RedisClient,
  worker: string,
  hooks: { pause: () => Promise<void>, resume: () => Promise<void> },
  onError: (error: unknown) => void,
): DrainWatch {
  let token: string | null = null
  let busy = false
  const tick = async () => {
    if (busy) return
    busy = true
    try {
      const wanted = await redis.get(keys.workersDrain)
      if (wanted && wanted !== token) {
        token = wanted
        await hooks.pause()
        await redis.hset(keys.workersDrained, worker, wanted)
      } else if (!wanted && token) {
        token = null
        await hooks.resume()
      }
    } catch (error) {
      onError(error)
    } finally {
      busy = false
    }
  }
  const timer = setInterval(() => void tick(), DRAIN_POLL_MS)
  timer.unref()
  void tick()
  return {
    get draining() {
      return token !== null
    },
    stop: () => clearInterval(timer),
  }
}
