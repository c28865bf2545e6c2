import { randomByte } from '../random'

export { groupCode } from './format'

/**
 * Redemption codes: 28 symbols of Crockford's base32 (140 random bits), stored without separators and
 * shown in groups of four. Crockford's alphabet leaves out I, L, O and U, so a code read aloud or typed
 * from a screen is not misread; `normalizeCode` also accepts the look-alikes and any separators.
 */
export const CODE_ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'
export const CODE_LENGTH = 28
export const CODE_PATTERN = new RegExp(`^[${CODE_ALPHABET}]{${CODE_LENGTH}}$`)

/**
 * A code as a person types or a scanner reads it: the 28 symbols in either case, the look-alikes
 * O, I and L included (read as 0, 1, 1), with spaces or dashes between them (normalizeCode maps it).
 */
export const TYPED_CODE = new RegExp(`^[ -]*(?:[${CODE_ALPHABET}OILoil${CODE_ALPHABET.toLowerCase()}][ -]*){${CODE_LENGTH}}$`)

/** A fresh code; 256 is a multiple of 32, so masking a random byte keeps every symbol equally likely. */
export function newRedemptionCode(): string {
  let code = ''
  for (let i = 0; i < CODE_LENGTH; i++) code += CODE_ALPHABET[randomByte() & 31]
  return code
}

/** What a shop typed or scanned, as stored: upper case, separators dropped, look-alikes mapped. */
export function normalizeCode(input: string): string {
  return input.toUpperCase().replace(/[\s-]/g, '').replace(/O/g, '0').replace(/[IL]/g, '1')
}
