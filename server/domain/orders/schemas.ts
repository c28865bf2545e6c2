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
}

/** What a web instance pushes to a shopper's sockets when an order settles. */
export interface OrderUpdate {
  type: 'order.updated'
  orderId: string
  couponId: number
  status: OrderStatus
  reason?: FailureReason
}
