import { LRUCache } from 'lru-cache'
import { config } from '../../config'
import { redis } from '../../redis/client'
import { keys } from '../../redis/keys'
import { countScript, type RateWindow } from '../../redis/scripts'
import { DomainError } from '../errors'

export const rateLimited = () => new DomainError('RATE_LIMITED', 'Too many purchase attempts; slow down', 1)

const WINDOW_MS = 1_000

// Users this instance saw over the limit, until when (this process's monotonic clock, from the ms Redis
// said were left in the window): until then their attempts are refused before any I/O, so a flood
// costs one Redis call per instance and window.
const limitedUntil = new LRUCache<number, number>({ max: 10_000 })

/**
 * Counts one order.purchase attempt in the per-user rate limit: a fixed one-second window in Redis
 * that starts with the user's first attempt (INCR, and PEXPIRE on the first count, in one script),
 * shared by every web instance; no instance's clock decides where a window starts or ends. The command
 * is written in the calling tick, so through ioredis' auto-pipelining it shares a round trip with
 * whatever the caller sends beside it. Resolves true when the attempt is within the limit; throws
 * RATE_LIMITED at once for a user this instance already saw over it in the current window.
 * PURCHASE_RATE_LIMIT attempts per second are allowed; 0 turns the limit off (benchmarks).
 * (On a single Redis server a purchase counts inside its reserve script: purchaseRateWindow.)
 */
export function countPurchaseAttempt(userId: number): Promise<boolean> {
  const { key, limit, windowMs } = purchaseRateWindow(userId)
  if (limit === 0) return Promise.resolve(true)
  if (knownLimited(userId)) throw rateLimited()
  return countScript(redis(), key, windowMs).then(({ count, msLeft }) => {
    if (count <= limit) return true
    noteLimited(userId, msLeft)
    return false
  })
}

/** The per-user purchase window, for a script that counts the attempt itself (limit 0: count nothing). */
export function purchaseRateWindow(userId: number): RateWindow {
  return { key: keys.rateLimit(userId), limit: config().PURCHASE_RATE_LIMIT, windowMs: WINDOW_MS }
}

/** Whether this instance saw the user over the limit in the current window: refused before any I/O. */
export function knownLimited(userId: number): boolean {
  return (limitedUntil.get(userId) ?? 0) > performance.now()
}

/** Remembers a user found over the limit, for the `msLeft` Redis said were left in the window. */
export function noteLimited(userId: number, msLeft: number): void {
  limitedUntil.set(userId, performance.now() + msLeft)
}

/** The rate limit on its own: throws DomainError('RATE_LIMITED', …, 1) → TOO_MANY_REQUESTS with Retry-After. */
export async function checkPurchaseRate(userId: number): Promise<void> {
  if (!(await countPurchaseAttempt(userId))) throw rateLimited()
}

/** The window of the /ws connection rate (WS_CONNECT_RATE_LIMIT sockets per window). */
export const SOCKET_RATE_WINDOW_MS = 10_000

/**
 * Counts one socket a shopper opens, in a window shared by every web instance that starts with their
 * first socket (NGINX limits the rate per session cookie, but cannot see a token sent in
 * connectionParams). Throws RATE_LIMITED beyond WS_CONNECT_RATE_LIMIT sockets per window, with the
 * seconds left in it; 0 turns the limit off.
 */
export async function checkSocketRate(userId: number): Promise<void> {
  const limit = config().WS_CONNECT_RATE_LIMIT
  if (limit === 0) return
  const { count, msLeft } = await countScript(redis(), keys.socketRateLimit(userId), SOCKET_RATE_WINDOW_MS)
  if (count > limit) throw new DomainError('RATE_LIMITED', `At most ${limit} new sockets per ${SOCKET_RATE_WINDOW_MS / 1000} s`, Math.max(1, Math.ceil(msLeft / 1000)))
}
