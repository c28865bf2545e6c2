/**
 * The waiting room's proof of work, off the page's main thread: finds a nonce such that
 * SHA-256("<challenge>:<nonce>") starts with `difficulty` zero bits (server/domain/queue/challenge.ts
 * checks it), reporting its progress now and then. @noble/hashes' synchronous SHA-256 is several
 * times faster here than WebCrypto's promise per hash, and needs no secure context.
 */
import { sha256 } from '@noble/hashes/sha2.js'
import { utf8ToBytes } from '@noble/hashes/utils.js'

export interface ProofRequest { challenge: string, difficulty: number }
export type ProofMessage = { tried: number, nonce?: string }

const scope = self as unknown as { onmessage: ((event: MessageEvent<ProofRequest>) => void) | null, postMessage: (message: ProofMessage) => void }
const REPORT_EVERY = 4_096

function leadingZeroBits(hash: Uint8Array): number {
  let bits = 0
  for (const byte of hash) {
    if (byte !== 0) return bits + Math.clz32(byte) - 24
    bits += 8
  }
  return bits
}

scope.onmessage = ({ data: { challenge, difficulty } }) => {
  const prefix = `${challenge}:`
  for (let n = 0; ; n++) {
    const nonce = n.toString(36)
    if (leadingZeroBits(sha256(utf8ToBytes(prefix + nonce))) >= difficulty) {
      scope.postMessage({ tried: n + 1, nonce })
      return
    }
    if (n % REPORT_EVERY === 0) scope.postMessage({ tried: n })
  }
}
