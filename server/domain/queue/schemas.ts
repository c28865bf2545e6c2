import { z } from 'zod'

/**
 * A coupon's waiting room (docs/api.md): when enabled, shoppers join a queue and only admitted ones
 * may buy, at most `admitPerSecond` admitted a second, each for `admissionSeconds`.
 */
export const waitingRoomSchema = z.object({
  enabled: z.boolean(),
  admitPerSecond: z.number().int().min(1).max(10_000),
  admissionSeconds: z.number().int().min(10).max(3_600),
}).strict()

export type WaitingRoom = z.infer<typeof waitingRoomSchema>

export type QueueState = 'NOT_JOINED' | 'WAITING' | 'ADMITTED' | 'SOLD_OUT' | 'CLOSED'

/** What queue.join, queue.status and queue.onStatus answer. */
export interface QueueStatus {
  state: QueueState
  /** One's place in the line, 1-based, fixed from the opening on; absent before the opening. */
  position?: number
  /** How many are still waiting before one now. */
  ahead?: number
  /** Seconds until one's admission at the room's rate (a lower bound when the stock holds it back). */
  etaSeconds?: number
  /** When one's admission ends (ISO-8601). */
  admittedUntil?: string
}
