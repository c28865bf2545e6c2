import type { OrderStatus } from '../../db/types'

export type FailureReason = 'INSUFFICIENT_CREDIT' | 'SOLD_OUT' | 'ALREADY_PURCHASED' | 'CANCELLED' | 'PAYMENT_ERROR'

/** The wire shape of an order (docs/api.md). */
export interface Order {
  orderId: string
  couponId: number
  status: OrderStatus
  reason?: FailureReason
  price: number
  createdAt: string
  updatedAt: string
  /** What was bought, so an order list needs no call per order. */
  coupon: OrderCoupon
  /** The redemption code (28 symbols, no separators), once PAID. */
  code?: string
  /** When a shop redeemed the code, if it did. */
  redeemedAt?: string
}

export interface OrderCoupon {
  name: string
  imageUrl: string | null
}
