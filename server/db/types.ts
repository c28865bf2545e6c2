import type { ColumnType, Generated, Insertable, Selectable } from 'kysely'

type CreatedAt = ColumnType<Date, Date | undefined, never>
type UpdatedAt = ColumnType<Date, Date | undefined, Date>

export type OrderStatus = 'PENDING' | 'PAID' | 'FAILED'
export type LedgerKind = 'STARTING' | 'GRANT' | 'PURCHASE'

export interface UsersTable {
  id: Generated<number>
  sub: string
  email: string
  credit: number
  created_at: CreatedAt
}

export interface CreditLedgerTable {
  id: Generated<number>
  user_id: number
  amount: number
  kind: LedgerKind
  order_id: string | null
  created_at: CreatedAt
}

export interface CouponsTable {
  id: Generated<number>
  name: string
  description: string
  image_url: string | null
  price: number
  total_stock: number
  stock: number
  sale_starts_at: Date | null
  sale_ends_at: Date | null
  created_at: CreatedAt
  updated_at: UpdatedAt
  /** tinyint(1): read as 0 or 1 */
  waiting_room_enabled: ColumnType<number | boolean, boolean | undefined, boolean>
  waiting_room_admit_per_second: number | null
  waiting_room_admission_seconds: number | null
  waiting_room_enabled_at: Date | null
}

export interface OrdersTable {
  id: string
  user_id: number
  coupon_id: number
  price: number
  status: OrderStatus
  reason: string | null
  server_id: string
  created_at: Date
  updated_at: UpdatedAt
  /** The redemption code of a PAID order (null otherwise), made in the settlement transaction. */
  code: string | null
  redeemed_at: Date | null
  /** The admin (users.id) who redeemed it. */
  redeemed_by: number | null
}

export interface UserCouponsTable {
  id: Generated<number>
  user_id: number
  coupon_id: number
  order_id: string
  created_at: CreatedAt
}

/** One place taken in a coupon's waiting room, and its admission once granted. */
export interface QueueEntriesTable {
  id: Generated<number>
  coupon_id: number
  user_id: number
  turn: number
  score: number
  joined_at: Date
  admitted_at: Date | null
  admitted_until: Date | null
}

export interface Database {
  users: UsersTable
  credit_ledger: CreditLedgerTable
  coupons: CouponsTable
  orders: OrdersTable
  user_coupons: UserCouponsTable
  queue_entries: QueueEntriesTable
}

export type CouponRow = Selectable<CouponsTable>
export type NewCoupon = Insertable<CouponsTable>
export type OrderRow = Selectable<OrdersTable>
export type UserRow = Selectable<UsersTable>
