import { describe, expect, it } from 'vitest'
import { queueStatus, type Place, type RoomSettings } from './status'

const now = Date.parse('2026-12-07T12:00:00Z')
const open: RoomSettings = { room: { enabled: true, admitPerSecond: 10, admissionSeconds: 60 }, startsAt: now - 60_000, endsAt: now + 3_600_000 }
const counters = { admitted: 20, stock: 50 }
const at = (position: number | null, admittedUntil: number | null = null): Place => ({ joined: true, position, admittedUntil })

describe('queueStatus', () => {
  it('tells a waiting shopper their fixed place, how many are still before them and when their turn comes', () => {
    expect(queueStatus(open, counters, at(45), now)).toEqual({ state: 'WAITING', position: 45, ahead: 24, etaSeconds: 3 })
    expect(queueStatus(open, counters, at(21), now)).toEqual({ state: 'WAITING', position: 21, ahead: 0, etaSeconds: 1 })
  })

  it('has no place to show before the opening (places are drawn then)', () => {
    expect(queueStatus({ ...open, startsAt: now + 60_000 }, { admitted: 0, stock: 50 }, at(null), now)).toEqual({ state: 'WAITING' })
  })

  it('admits a place the admissions reached, until its admission ends; then the shopper may join again', () => {
    const until = now + 30_000
    expect(queueStatus(open, counters, at(20, until), now)).toEqual({ state: 'ADMITTED', position: 20, ahead: 0, etaSeconds: 0, admittedUntil: new Date(until).toISOString() })
    expect(queueStatus(open, counters, at(20, now), now)).toEqual({ state: 'NOT_JOINED' })
    expect(queueStatus(open, counters, at(20, null), now)).toEqual({ state: 'WAITING', position: 20, ahead: 0, etaSeconds: 0 })
  })

  it('says SOLD_OUT to everyone once no unit is free, and WAITING again when one comes back', () => {
    expect(queueStatus(open, { admitted: 20, stock: 0 }, at(45), now)).toEqual({ state: 'SOLD_OUT', position: 45 })
    expect(queueStatus(open, { admitted: 20, stock: 0 }, null, now)).toEqual({ state: 'SOLD_OUT' })
    expect(queueStatus(open, { admitted: 20, stock: 1 }, at(45), now).state).toBe('WAITING')
  })

  it('is CLOSED when the room is off or the sale has ended, and NOT_JOINED without a place', () => {
    expect(queueStatus({ ...open, room: { ...open.room!, enabled: false } }, counters, at(5), now)).toEqual({ state: 'CLOSED' })
    expect(queueStatus({ ...open, endsAt: now }, counters, at(5), now)).toEqual({ state: 'CLOSED' })
    expect(queueStatus(open, counters, { joined: false, position: null, admittedUntil: null }, now)).toEqual({ state: 'NOT_JOINED' })
  })
})
