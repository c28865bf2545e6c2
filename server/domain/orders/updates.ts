import { z } from 'zod'
import type { OrderStatus } from '../../db/types'
import { orderIdSchema } from './ids'
import type { FailureReason } from './schemas'

/**
 * One settlement as a shopper's `order.onUpdate` subscription yields it. An order is updated once:
 * when a worker settles it (PAID, with its redemption code, or FAILED with a reason).
 */
export interface OrderUpdate {
  orderId: string
  couponId: number
  status: OrderStatus
  reason?: FailureReason
  /** The redemption code, once PAID. */
  code?: string
}

/** What a worker publishes on `payment_update:<serverId>` and a web instance forwards. */
export interface PublishedUpdate {
  userId: number
  /** The update's event id (updateId): the same one a replay from MySQL gives it. */
  id: string
  update: OrderUpdate
}

/**
 * Event ids sort by update time: `<updated_at as ISO-8601 UTC, ms>_<orderId>`, e.g.
 * `2026-12-06T10:00:00.123Z_3-01JF…`. The settlement writes `updated_at` once, with the shopper's
 * user row locked, so one shopper's updates get increasing ids in the order they were committed, and
 * a replay from MySQL gives an update the same id it had when it was pushed live.
 */
export function updateId(updatedAt: Date, orderId: string): string {
  return `${updatedAt.toISOString()}_${orderId}`
}

const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/

export interface UpdateCursor { after: Date, orderId: string }

/** A `lastEventId`: an id made by updateId. */
export const updateIdSchema = z.string().max(100).refine((s) => parseUpdateId(s) !== null, 'not an event id of order.onUpdate')

export function parseUpdateId(id: string): UpdateCursor | null {
  const iso = id.slice(0, 24)
  if (!ISO_MS.test(iso) || id[24] !== '_') return null
  const after = new Date(iso)
  const orderId = id.slice(25)
  if (Number.isNaN(after.getTime()) || !orderIdSchema.safeParse(orderId).success) return null
  return { after, orderId }
}

export function toUpdate(row: {
  id: string
  coupon_id: number
  status: OrderStatus
  reason: string | null
  code: string | null
}): OrderUpdate {
  return {
    orderId: row.id,
    couponId: Number(row.coupon_id),
    status: row.status,
    ...(row.reason ? { reason: row.reason as FailureReason } : {}),
    ...(row.status === 'PAID' && row.code ? { code: row.code } : {}),
  }
}
