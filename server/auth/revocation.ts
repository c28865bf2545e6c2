import { LRUCache } from 'lru-cache'
import { DomainError } from '../domain/errors'
import { log } from '../observability/log'
import { redis } from '../redis/client'
import { keys } from '../redis/keys'

/**
 * Server-side end of a browser session. Signing out puts the session's id into Redis until the session
 * would have expired anyway; every instance asks Redis whether a session it serves was revoked and
 * remembers the answer for REVOCATION_CHECK_MS only, so a cookie copied before sign-out stops working
 * on every instance within that time. A revoked id is remembered locally until the session's end.
 */
export const REVOCATION_CHECK_MS = 500

const answers = new LRUCache<string, Promise<boolean>>({ max: 50_000, ttl: REVOCATION_CHECK_MS })

/** Revokes a session id until `endsAtSeconds` (the session's own expiry, with a minute to spare). */
export async function revokeSession(sessionId: string, endsAtSeconds: number): Promise<void> {
  const ttlMs = Math.max(1_000, endsAtSeconds * 1000 - Date.now() + 60_000)
  await redis().set(keys.sessionRevoked(sessionId), '1', 'PX', ttlMs)
  answers.set(sessionId, Promise.resolve(true), { ttl: ttlMs })
}

/**
 * Whether the session was signed out. While Redis cannot answer, this fails closed: the request is
 * refused with TRY_AGAIN_LATER (503, Retry-After) — not UNAUTHORIZED, so nobody is signed out — and a
 * warning is logged. Failing open would let a cookie copied before sign-out (an admin's included) work
 * again for as long as Redis is away; the shop cannot sell without Redis anyway, and pages stay up
 * (they are the same for everyone). A revoked id this instance already knows stays refused.
 */
export function isSessionRevoked(sessionId: string): Promise<boolean> {
  let answer = answers.get(sessionId)
  if (!answer) {
    answer = redis().exists(keys.sessionRevoked(sessionId)).then((n) => n > 0, (error: unknown) => {
      log.warn('session revocation check failed; session refused until Redis answers', { error })
      answers.delete(sessionId)
      throw new DomainError('TRY_AGAIN_LATER', 'Your session cannot be checked right now; try again in a moment', 1)
    })
    answers.set(sessionId, answer)
  }
  return answer
}
