import { config } from '../../config'
import { redis } from '../../redis/client'
import { keys } from '../../redis/keys'
import { DomainError } from '../errors'

/**
 * Per-user rate limit of order.purchase: a fixed one-second window in Redis (INCR + EXPIRE, sent
 * together through ioredis' auto-pipelining), shared by every web instance.
 * PURCHASE_RATE_LIMIT attempts per second are allowed; 0 turns the limit off (benchmarks).
 * Throws DomainError('RATE_LIMITED', …, retryAfterSeconds) → TOO_MANY_REQUESTS with Retry-After.
 */
export async function checkPurchaseRate(userId: number): Promise<void> {
  const limit = config().PURCHASE_RATE_LIMIT
  if (limit === 0) return
  const now = Date.now()
  const second = Math.floor(now / 1000)
  const key = keys.rateLimit(userId, second)
  const r = redis()
  const [count] = await Promise.all([r.incr(key), r.expire(key, 2)])
  if (count > limit) throw new DomainError('RATE_LIMITED', 'Too many purchase attempts; slow down', 1)
}
