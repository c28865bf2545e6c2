import { describe, expect, it } from 'vitest'
import { bearerToken } from './bearer'

// What the Authorization header parser replaced: it must answer exactly as this pattern did.
const PATTERN = /^Bearer +(\S+)\s*$/i
const TOKEN = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJl'

describe('bearerToken', () => {
  it('reads the token as the pattern did', () => {
    const headers = [
      `Bearer ${TOKEN}`, `bearer ${TOKEN}`, `BEARER ${TOKEN}`, `Bearer    ${TOKEN}`, `Bearer ${TOKEN}  `, `Bearer ${TOKEN}\t\n`,
      `Bearer ${TOKEN} more`, `Bearer\t${TOKEN}`, ` Bearer ${TOKEN}`, `Bearer ${TOKEN.slice(0, 10)}\u00a0${TOKEN.slice(10)}`,
      `Basic ${TOKEN}`, `Bearer${TOKEN}`, 'Bearer ', 'Bearer    ', 'Bearer', '', 'Bearer x', `Bearer \u2028${TOKEN}`,
      `Bearer ${TOKEN}\u3000`, `Bearerx ${TOKEN}`,
    ]
    for (const header of headers) {
      expect({ header, token: bearerToken(header) }).toEqual({ header, token: PATTERN.exec(header)?.[1] })
    }
  })

  it('agrees with the pattern on random headers', () => {
    const alphabet = ['B', 'e', 'a', 'r', 'E', 'R', ' ', '\t', '\n', '.', 'x', '-', '\u00a0', '\ufeff']
    for (let i = 0; i < 20_000; i++) {
      const length = Math.floor(Math.random() * 14)
      let header = Math.random() < 0.7 ? 'Bearer' : ''
      for (let j = 0; j < length; j++) header += alphabet[Math.floor(Math.random() * alphabet.length)]
      expect({ header, token: bearerToken(header) }).toEqual({ header, token: PATTERN.exec(header)?.[1] })
    }
  })
})
