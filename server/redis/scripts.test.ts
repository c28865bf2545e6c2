import { readdirSync, readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { parseReservation } from './scripts'
import { keys } from './keys'

describe('parseReservation', () => {
  it('reads a reserved or claimed entry as the reserve and claim scripts write it', () => {
    const reserved = { state: 'reserved', userId: 3, price: 250, serverId: 'web-1', at: 1_764_000_000_000, requestId: 'r-1' }
    expect(parseReservation(JSON.stringify(reserved))).toEqual(reserved)
    const claimed = { ...reserved, state: 'claimed', claimedAt: 1_764_000_000_500 }
    expect(parseReservation(JSON.stringify(claimed))).toEqual(claimed)
  })

  it('returns null for anything else, so a corrupt entry is reported instead of failing a pass', () => {
    const good = { state: 'reserved', userId: 3, price: 250, serverId: 'web-1', at: 1 }
    for (const raw of [
      '{not json',
      'null',
      '"reserved"',
      JSON.stringify({ ...good, state: 'paid' }),
      JSON.stringify({ ...good, userId: '3' }),
      JSON.stringify({ ...good, userId: 3.5 }),
      JSON.stringify({ ...good, price: null }),
      JSON.stringify({ ...good, at: '1' }),
    ]) {
      expect(parseReservation(raw), raw).toBeNull()
    }
  })
})

describe('Redis keys', () => {
  it('put every key of one coupon in one Cluster slot (one hash tag) and no other coupon\'s', () => {
    const tags = keys.couponKeys(42).map((key) => /\{([^}]*)\}/.exec(key)?.[1])
    expect(new Set(tags)).toEqual(new Set(['42']))
    expect(keys.saleStats(42)).toContain('{42}')
    expect(keys.couponKeys(4).some((key) => key.includes('{42}'))).toBe(false)
  })
})

describe('the Lua scripts\' keys', () => {
  // Every key of one coupon and its waiting room, in the order keys.ts lists them, by their form in a header.
  const canonical = Object.values(keys).flatMap((key) => (typeof key === 'function' ? [(key as (...ids: number[]) => unknown)(7, 7)] : []))
    .filter((key): key is string => typeof key === 'string' && key.includes('{7}')).map((key) => key.replace('{7}', '{id}'))
  const lua = new URL('../../lua/', import.meta.url)

  it('are taken in one order, the order of keys.ts, and as many as the file name says', () => {
    for (const file of readdirSync(lua).filter((f) => f.endsWith('.lua'))) {
      const header = [...readFileSync(new URL(file, lua), 'utf8').matchAll(/^\s*KEYS\[(\d+)\] (\S+)/gm)]
      expect(header.map((m) => Number(m[1])), file).toEqual(header.map((_, i) => i + 1))
      const count = /-(\d+|n)\.lua$/.exec(file)?.[1]
      // `-n`: as many keys as the caller gives, described together, none numbered
      expect(header.length, file).toBe(count === 'n' ? 0 : Number(count))
      const places = header.map((m) => canonical.indexOf(m[2]!)).filter((i) => i >= 0)
      expect(places, `${file}: ${header.map((m) => m[2]).join(', ')}`).toEqual([...places].sort((a, b) => a - b))
    }
  })

  it('name only keys that keys.ts builds', () => {
    for (const file of readdirSync(lua).filter((f) => f.endsWith('.lua'))) {
      const named = [...readFileSync(new URL(file, lua), 'utf8').matchAll(/^\s*KEYS\[\d+\] (\S*\{id\}\S*)/gm)].map((m) => m[1]!)
      expect(named.filter((key) => !canonical.includes(key)), file).toEqual([])
    }
  })
})
