import { z } from 'zod'
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

/**
 * A sale is in this millennium: MariaDB's DATETIME holds only the years 1000 to 9999 (a year past it
 * was a 500) and a JavaScript Date misreads years before 100 (one such coupon broke every catalogue
 * page it was on); 2000 to 2999, whatever the offset, stays far inside both.
 */
const isoDate = z.iso.datetime({ offset: true }).regex(/^2[0-9]{3}-/, 'must be in the years 2000 to 2999').meta({ format: 'date-time' })

// (the instants are compared: the texts may carry different offsets; JSON Schema cannot compare two
// fields, so the API document states the rule in words)
const windowRule = 'saleEndsAt must be after saleStartsAt'

export const createCouponInput = z.object({
  name: visibleText(120),
  description: chars(5000).trim(),
  price: z.number().int().min(0).max(100_000_000),
  stock: z.number().int().min(0).max(10_000_000),
  imageUrl: chars(500).regex(/^(https?:\/\/|\/)/, 'must be an http(s) URL or a path').nullish(),
  saleStartsAt: isoDate.nullish(),
  saleEndsAt: isoDate.nullish(),
}).strict().refine((c) => !c.saleStartsAt || !c.saleEndsAt || new Date(c.saleStartsAt) < new Date(c.saleEndsAt), {
  message: windowRule, path: ['saleEndsAt'],
}).meta({ description: windowRule })

export const updateCouponInput = z.object({
  id: couponId,
  name: visibleText(120).optional(),
  description: chars(5000).trim().optional(),
  price: z.number().int().min(0).max(100_000_000).optional(),
  stockDelta: z.number().int().min(-10_000_000).max(10_000_000).optional(),
  imageUrl: chars(500).regex(/^(https?:\/\/|\/)/, 'must be an http(s) URL or a path').nullish(),
  saleStartsAt: isoDate.nullish(),
  saleEndsAt: isoDate.nullish(),
}).strict()

export type CreateCouponInput = z.infer<typeof createCouponInput>
export type UpdateCouponInput = z.infer<typeof updateCouponInput>
