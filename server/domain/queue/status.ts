import type { QueueStatus, WaitingRoom } from './schemas'

/**
 * A shopper's waiting-room status, computed locally from what an instance knows: the room's settings,
 * its counters (learned once a tick per room) and the shopper's place (read once, fixed from the
 * opening on). No Redis call here: this runs for every subscriber at every tick.
 */

export interface RoomSettings {
  room: WaitingRoom | null
  /** The sale window, ms since epoch (null: always open / open-ended). */
  startsAt: number | null
  endsAt: number | null
}

export interface RoomCounters {
  /** Places admitted so far, from the front of the line. */
  admitted: number
  /** Live stock; null when Redis does not hold the coupon (then not sold out as far as we know). */
  stock: number | null
}

export interface Place {
  /** This turn has a place in the line. */
  joined: boolean
  /** 1-based place, fixed; null before the opening. */
  position: number | null
  /** When the shopper's admission ends (ms), null without one. */
  admittedUntil: number | null
}

export function queueStatus({ room, endsAt }: RoomSettings, counters: RoomCounters, place: Place | null, now: number): QueueStatus {
  if (!room?.enabled || (endsAt !== null && now >= endsAt)) return { state: 'CLOSED' }
  const position = place?.joined && place.position !== null ? place.position : undefined
  // No unit is free: everyone still waiting is told at once (WAITING again if a failed payment returns one).
  if (counters.stock !== null && counters.stock <= 0) return position === undefined ? { state: 'SOLD_OUT' } : { state: 'SOLD_OUT', position }
  if (!place?.joined) return { state: 'NOT_JOINED' }
  if (position === undefined) return { state: 'WAITING' } // before the opening: places are drawn at random then
  if (position > counters.admitted) {
    const ahead = position - 1 - counters.admitted
    return { state: 'WAITING', position, ahead, etaSeconds: Math.ceil((ahead + 1) / room.admitPerSecond) }
  }
  if (place.admittedUntil === null) return { state: 'WAITING', position, ahead: 0, etaSeconds: 0 } // being granted now
  // An admission that ended unused: the shopper may join again, at the back.
  if (place.admittedUntil <= now) return { state: 'NOT_JOINED' }
  return { state: 'ADMITTED', position, ahead: 0, etaSeconds: 0, admittedUntil: new Date(place.admittedUntil).toISOString() }
}

/** Two statuses that would show the same thing. */
export function sameStatus(a: QueueStatus | undefined, b: QueueStatus): boolean {
  return !!a && a.state === b.state && a.position === b.position && a.ahead === b.ahead && a.etaSeconds === b.etaSeconds && a.admittedUntil === b.admittedUntil
}
