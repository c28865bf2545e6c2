import { createHash, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto'
import { config } from '../../config'

/**
 * The waiting room's proof of work: a shopper asks for a challenge bound to them and the coupon, and
 * joins with a nonce such that SHA-256("<challenge>:<nonce>") starts with `difficulty` zero bits. It
 * costs a browser a second or two, and a script as much per account and join. Challenges are signed,
 * not stored: any instance checks any challenge, and a wrong answer uses nothing up.
 */

/** A challenge is good for this long (the contract promises at least ten minutes). */
export const CHALLENGE_VALID_MS = 15 * 60_000

export interface Challenge {
  challenge: string
  difficulty: number
}

let signingKey: Buffer | undefined
/** Derived from the session secret every instance shares (production requires a real one). */
function key(): Buffer {
  signingKey ??= Buffer.from(hkdfSync('sha256', config().SESSION_PASSWORD || 'development only', 'flash-sale', 'waiting room challenge', 32))
  return signingKey
}

const mac = (payload: string) => createHmac('sha256', key()).update(payload).digest('base64url').slice(0, 22)

export function issueChallenge(couponId: number, userId: number, now = Date.now()): Challenge {
  const difficulty = config().QUEUE_POW_DIFFICULTY
  const payload = [couponId, userId, Math.floor((now + CHALLENGE_VALID_MS) / 1000), difficulty, randomBytes(9).toString('base64url')].join('.')
  return { challenge: `${payload}.${mac(payload)}`, difficulty }
}

export type ProofProblem = 'malformed' | 'expired' | 'not-yours' | 'insufficient'

/** Null when `nonce` solves a challenge this server issued to this user for this coupon, still valid. */
export function checkProof(challenge: string, nonce: string, couponId: number, userId: number, now = Date.now()): ProofProblem | null {
  const parts = challenge.split('.')
  if (parts.length !== 6) return 'malformed'
  const [coupon, user, expires, difficulty, , signature] = parts as [string, string, string, string, string, string]
  const expected = Buffer.from(mac(parts.slice(0, 5).join('.')))
  const given = Buffer.from(signature)
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'malformed'
  if (Number(coupon) !== couponId || Number(user) !== userId) return 'not-yours'
  if (Number(expires) * 1000 <= now) return 'expired'
  return leadingZeroBits(proofHash(challenge, nonce)) >= Number(difficulty) ? null : 'insufficient'
}

export function proofHash(challenge: string, nonce: string): Buffer {
  return createHash('sha256').update(`${challenge}:${nonce}`, 'utf8').digest()
}

export function leadingZeroBits(hash: Uint8Array): number {
  let bits = 0
  for (const byte of hash) {
    if (byte === 0) {
      bits += 8
      continue
    }
    return bits + Math.clz32(byte) - 24
  }
  return bits
}

/** Finds a nonce by brute force (tests, benchmarks and scripts; the browser does the same in a Web Worker). */
export function solveChallenge({ challenge, difficulty }: Challenge): string {
  for (let n = 0; ; n++) {
    const nonce = n.toString(36)
    if (leadingZeroBits(proofHash(challenge, nonce)) >= difficulty) return nonce
  }
}
