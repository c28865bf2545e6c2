/**
 * The wire shapes of DESIGN.md "Contracts", as the pages use them. The tRPC client infers the same
 * types from the router; these names keep component props readable.
 */
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

export type OrderStatus = 'PENDING' | 'PAID' | 'FAILED'

export interface Order {
  orderId: string
  couponId: number
  status: OrderStatus
  reason?: string | null
  price: number
  createdAt: string
  updatedAt: string
}

export interface Me {
  id: number
  email: string
  credit: number
  isAdmin: boolean
}
