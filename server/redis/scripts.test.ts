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
