import { z } from 'zod'
import { waitingRoomSchema, type WaitingRoom } from '../queue/schemas'
import { chars, visibleText } from '../text'

/** The wire shape of a coupon (docs/api.md): money in cents, dates as ISO-8601 strings. */
export interface Coupon {
  id: number
  name: string
  description: string
  imageUrl: string | null
  price: number
  stock: number
  saleStartsAt: string | null
  saleEndsAt: string | null
  /** null when the coupon never had one. */
  waitingRoom: WaitingRoom | null
}

export interface CouponPage {
  items: Coupon[]
  page: number
  pageSize: number
  total: number
}

export const couponId = z.number().int().min(1).max(2_147_483_647)

/**
 * The catalogue is read a page at a time, and every (page, pageSize) pair is a cache key: nobody pages
 * past the first MAX_CATALOGUE_OFFSET coupons, so page × pageSize stays within it and the number of
 * distinct keys a client can make stays bounded (~45,000 rather than ~5 million).
 */
export const MAX_CATALOGUE_OFFSET = 10_000

const offsetRule = `page × pageSize must be at most ${MAX_CATALOGUE_OFFSET}`

// (JSON Schema cannot multiply, so the API document states the rule in words)
export const listInput = z.object({
  page: z.number().int().min(1).max(MAX_CATALOGUE_OFFSET).default(1),
  pageSize: z.number().int().min(1).max(50).default(12),
}).strict().refine((p) => p.page * p.pageSize <= MAX_CATALOGUE_OFFSET, { message: offsetRule, path: ['page'] }).meta({ description: offsetRule })

const EARLIEST = Date.parse('2000-01-01T00:00:00Z')
const LATEST = Date.parse('9999-12-31T23:59:59.999Z')
const saleYears = 'must be a date in the years 2000 to 9999, as written and as an instant (UTC)'
/**
 * An ISO-8601 instant (any offset) in the years 2000–9999 as an instant (UTC): what MySQL's DATETIME
 * holds. The year as written is bounded too, so that the API document's pattern says all of it but
 * the offset's day at either end, which it says in words.
 */
const isoDate = z.iso.datetime({ offset: true }).regex(/^[2-9][0-9]{3}-/, saleYears).refine((iso) => {
  const at = Date.parse(iso)
  return at >= EARLIEST && at <= LATEST
}, saleYears).meta({ format: 'date-time', description: saleYears })

/**
 * Sale start and end compared as instants (strings with different offsets do not sort by time). A
 * start in the past is fine. (JSON Schema cannot compare two fields: the API document says it in words.)
 */
const endsAfterStart = (c: { saleStartsAt?: string | null, saleEndsAt?: string | null }) => !c.saleStartsAt || !c.saleEndsAt || Date.parse(c.saleStartsAt) < Date.parse(c.saleEndsAt)
const endAfterStart = { message: 'saleEndsAt must be after saleStartsAt', path: ['saleEndsAt'] }

export const createCouponInput = z.object({
  name: visibleText(120),
  description: chars(5000).trim(),
  price: z.number().int().min(0).max(100_000_000),
  stock: z.number().int().min(0).max(10_000_000),
  imageUrl: chars(500).regex(/^(https?:\/\/|\/)/, 'must be an http(s) URL or a path').nullish(),
  saleStartsAt: isoDate.nullish(),
  saleEndsAt: isoDate.nullish(),
  waitingRoom: waitingRoomSchema.optional(),
}).strict().refine(endsAfterStart, endAfterStart).meta({ description: endAfterStart.message })

export const updateCouponInput = z.object({
  id: couponId,
  name: visibleText(120).optional(),
  description: chars(5000).trim().optional(),
  price: z.number().int().min(0).max(100_000_000).optional(),
  stockDelta: z.number().int().min(-10_000_000).max(10_000_000).optional(),
  imageUrl: chars(500).regex(/^(https?:\/\/|\/)/, 'must be an http(s) URL or a path').nullish(),
  saleStartsAt: isoDate.nullish(),
  saleEndsAt: isoDate.nullish(),
  waitingRoom: waitingRoomSchema.optional(),
}).strict().refine(endsAfterStart, endAfterStart).meta({ description: endAfterStart.message })

export type CreateCouponInput = z.infer<typeof createCouponInput>
export type UpdateCouponInput = z.infer<typeof updateCouponInput>
