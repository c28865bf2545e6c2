import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { checkProof, CHALLENGE_VALID_MS, issueChallenge, leadingZeroBits, proofHash, solveChallenge } from './challenge'

const env = {
  DATABASE_URL: 'mysql://unit:unit@127.0.0.1:1/none', REDIS_URL: 'redis://127.0.0.1:1', KAFKA_BROKERS: '127.0.0.1:1',
  OIDC_ISSUER: 'http://127.0.0.1:1/realms/none', SESSION_PASSWORD: 'unit-test-session-password-of-some-length', QUEUE_POW_DIFFICULTY: '8',
}
const saved = { ...process.env }
beforeAll(() => { Object.assign(process.env, env) })
afterAll(() => { process.env = saved })

describe('the waiting room\'s proof of work', () => {
  it('counts leading zero bits of a hash', () => {
    expect(leadingZeroBits(Uint8Array.from([0x80]))).toBe(0)
    expect(leadingZeroBits(Uint8Array.from([0x01, 0xff]))).toBe(7)
    expect(leadingZeroBits(Uint8Array.from([0x00, 0x00, 0x10]))).toBe(19)
    expect(leadingZeroBits(new Uint8Array(32))).toBe(256)
  })

  it('accepts a nonce whose SHA-256 of "<challenge>:<nonce>" has the difficulty\'s zero bits, for its shopper and coupon only', () => {
    const issued = issueChallenge(7, 42)
    expect(issued.difficulty).toBe(8)
    const nonce = solveChallenge(issued)
    expect(leadingZeroBits(proofHash(issued.challenge, nonce))).toBeGreaterThanOrEqual(8)
    expect(checkProof(issued.challenge, nonce, 7, 42)).toBeNull()
    expect(checkProof(issued.challenge, nonce, 7, 43)).toBe('not-yours')
    expect(checkProof(issued.challenge, nonce, 8, 42)).toBe('not-yours')
  })

  it('is not used up by a wrong answer, and is good for at least ten minutes', () => {
    const now = Date.now()
    const issued = issueChallenge(7, 42, now)
    let wrong = 0
    while (leadingZeroBits(proofHash(issued.challenge, `w${wrong}`)) >= 8) wrong++
    expect(checkProof(issued.challenge, `w${wrong}`, 7, 42, now)).toBe('insufficient')
    const nonce = solveChallenge(issued)
    expect(checkProof(issued.challenge, nonce, 7, 42, now + 10 * 60_000)).toBeNull()
    expect(checkProof(issued.challenge, nonce, 7, 42, now + CHALLENGE_VALID_MS + 1_000)).toBe('expired')
  })

  it('refuses a challenge it did not sign (an edited difficulty, user or expiry)', () => {
    const issued = issueChallenge(7, 42)
    const parts = issued.challenge.split('.')
    for (const [i, value] of [[3, '0'], [1, '43'], [2, String(Number(parts[2]) + 3600)]] as const) {
      const forged = parts.map((p, j) => (j === i ? value : p)).join('.')
      expect(checkProof(forged, 'x', 7, 42)).toBe('malformed')
    }
    expect(checkProof('not-a-challenge', 'x', 7, 42)).toBe('malformed')
  })
})
