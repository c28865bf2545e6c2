import { randomFillSync } from 'node:crypto'

// Cryptographically random bytes for ids and codes, from a pool refilled 4 KB at a time: one crypto
// call per 4,096 bytes instead of one (and a new Buffer) per byte, id or code. The pool is this
// process's memory only, as the buffers of single calls were.
const pool = Buffer.alloc(4096)
let drawn = pool.length

/** A random byte, 0–255. */
export function randomByte(): number {
  if (drawn === pool.length) {
    randomFillSync(pool)
    drawn = 0
  }
  return pool[drawn++]!
}
