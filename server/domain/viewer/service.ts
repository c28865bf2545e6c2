import type { Identity } from '../../auth/types'
import { getCoupon } from '../coupons/catalogue'
import { listMyOrders } from '../orders/service'
import type { Order } from '../orders/schemas'
import { describeUser, ensureUser } from '../users/service'

/**
 * Everything on a page that depends on who is looking, in one answer, so pages can be rendered once
 * for everyone (and cached) and filled in after hydration: the signed-in user (null for a visitor),
 * their orders of the coupon on screen, and that coupon's live stock.
 */
export interface Viewer {
  me: Awaited<ReturnType<typeof describeUser>> | null
  orders: Order[]
  stock: number | null
}

export async function describeViewer(identity: Identity | null, couponId?: number): Promise<Viewer> {
  const stock = couponId === undefined ? Promise.resolve(null) : getCoupon(couponId).then((c) => c.stock, () => null)
  if (!identity) return { me: null, orders: [], stock: await stock }
  const user = await ensureUser(identity)
  const [me, mine] = await Promise.all([
    describeUser(user),
    couponId === undefined ? Promise.resolve({ items: [] as Order[] }) : listMyOrders(user.id, couponId),
  ])
  return { me, orders: mine.items, stock: await stock }
}
