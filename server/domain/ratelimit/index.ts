import { LRUCache } from 'lru-cache'
import { config } from '../../config'
import { redis } from '../../redis/client'
import { keys } from '../../redis/keys'
import { countScript } from '../../redis/scripts'
import { DomainError } from '../errors'

export const rateLimited = () => new DomainError('RATE_LIMITED', 'Too many purchase attempts; slow down', 1)

// Users this instance saw over the limit, with the second it happened: until that second ends, their
// attempts are refused before any I/O (a flood costs one Redis call per instance and second).
const limitedIn = new LRUCache<number, number>({ max: 10_000 })

/**
 * Counts one order.purchase attempt in the per-user rate limit: a fixed one-second window in Redis
 * (INCR, and EXPIRE on the first count, in one script), shared by every web instance. The command is
 * written in the calling tick, so through ioredis' auto-pipelining it shares a round trip with
 * whatever the caller sends beside it (the reserve script). Resolves true when the attempt is within
 * the limit; throws RATE_LIMITED at once for a user this instance already saw over it in the current
 * second.
 * PURCHASE_RATE_LIMIT attempts per second are allowed; 0 turns the limit off (benchmarks).
 */
export function countPurchaseAttempt(userId: number): Promise<boolean> {
  const limit = config().PURCHASE_RATE_LIMIT
  if (limit === 0) return Promise.resolve(true)
  const second = Math.floor(Date.now() / 1000)
  if (limitedIn.get(userId) === second) throw rateLimited()
  return countScript(redis(), keys.rateLimit(userId, second), 2).then((count) => {
    if (count <= limit) return true
    limitedIn.set(userId, second)
    return false
  })
}

/** The rate limit on its own: throws DomainError('RATE_LIMITED', …, 1) → TOO_MANY_REQUESTS with Retry-After. */
export async function checkPurchaseRate(userId: number): Promise<void> {
  if (!(await countPurchaseAttempt(userId))) throw rateLimited()
}

/** The window of the /ws connection rate (WS_CONNECT_RATE_LIMIT sockets per window). */
export const SOCKET_RATE_WINDOW_SECONDS = 10

/**
 * Counts one socket a shopper opens, in a fixed window shared by every web instance (NGINX limits
 * the rate per session cookie, but cannot see a token sent in connectionParams). Throws RATE_LIMITED
 * beyond WS_CONNECT_RATE_LIMIT sockets per window; 0 turns the limit off.
 */
export async function checkSocketRate(userId: number): Promise<void> {
  const limit = config().WS_CONNECT_RATE_LIMIT
  if (limit === 0) return
  const window = Math.floor(Date.now() / 1000 / SOCKET_RATE_WINDOW_SECONDS)
  const count = await countScript(redis(), keys.socketRateLimit(userId, window), SOCKET_RATE_WINDOW_SECONDS + 1)
  if (count > limit) throw new DomainError('RATE_LIMITED', `At most ${limit} new sockets per ${SOCKET_RATE_WINDOW_SECONDS} s`, SOCKET_RATE_WINDOW_SECONDS)
}
