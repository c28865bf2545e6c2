import { describe, expect, it } from 'vitest'
import { CODE_ALPHABET, CODE_LENGTH, CODE_PATTERN, groupCode, newRedemptionCode, normalizeCode } from './code'

describe('redemption codes', () => {
  it('are 28 symbols of Crockford\'s base32 (no I, L, O, U), fresh each time', () => {
    const codes = Array.from({ length: 200 }, () => newRedemptionCode())
    for (const code of codes) expect(code).toMatch(CODE_PATTERN)
    expect(CODE_ALPHABET).toHaveLength(32)
    expect(CODE_ALPHABET).not.toMatch(/[ILOU]/)
    expect(new Set(codes).size).toBe(codes.length)
    // every symbol turns up: masking a byte to 5 bits reaches the whole alphabet
    expect(new Set(codes.join('')).size).toBe(32)
  })

  it('are shown in groups of four and read back whatever separators, case and look-alikes were typed', () => {
    const code = newRedemptionCode()
    const shown = groupCode(code)
    expect(shown).toMatch(/^(?:[0-9A-Z]{4}-){6}[0-9A-Z]{4}$/)
    expect(shown.replaceAll('-', '')).toHaveLength(CODE_LENGTH)
    expect(normalizeCode(` ${shown.toLowerCase()} `)).toBe(code)
    expect(normalizeCode('o0il-1L 2z')).toBe('0011112Z')
    expect(groupCode('ABCDEF')).toBe('ABCD-EF')
  })
})
