import type { NuxtApp } from '#app'
import type { Me, Viewer } from './contract'
import { reasonOf } from './errors'

/**
 * Who is looking. Pages that are the same for everyone (the catalogue and coupon pages) are rendered
 * once and cached, without anyone's cookies, so their server render knows nobody: `known` stays false
 * and the per-user parts show a neutral placeholder of the same size until `loadViewer` has answered
 * after hydration. Pages rendered per request (My account, admin) know the user on the server.
 */
export function useMe() {
  const data = useState<Me | null>('me', () => null)
  const known = useState('me-known', () => false)
  return { data, known }
}

/** The coupon page's per-user parts (its orders of that coupon, live stock), from the same call. */
export function useViewerCoupon() {
  return useState<{ couponId: number, orders: Viewer['orders'], stock: number | null } | null>('viewer-coupon', () => null)
}

/** The coupon the current page shows, set during its setup: the layout's first call asks for it too. */
export function useViewerScope() {
  return useState<number | undefined>('viewer-scope', () => undefined)
}

let lastCouponId: number | undefined

/** Server render of a per-request page: the signed-in user, or null (a visitor). */
export async function fetchMe(nuxtApp: NuxtApp): Promise<Me | null> {
  try {
    return await nuxtApp.$trpc.user.me.query()
  } catch (error) {
    if (reasonOf(error) === 'UNAUTHORIZED') return null
    throw error
  }
}

/**
 * One call (`user.viewer`) for everything per-user on a page: the header's sign-in state and credit,
 * and on a coupon page the Buy button's orders and the live stock. A visitor gets `me: null`.
 */
export function loadViewer(couponId?: number): Promise<void> {
  if (import.meta.server) return Promise.resolve()
  lastCouponId = couponId
  const nuxtApp = useNuxtApp()
  const { data, known } = useMe()
  const coupon = useViewerCoupon()
  const call = (async () => {
    try {
      const viewer = await nuxtApp.$trpc.user.viewer.query(couponId === undefined ? undefined : { couponId })
      data.value = viewer.me
      if (couponId !== undefined) coupon.value = { couponId, orders: viewer.orders, stock: viewer.stock }
    } catch {
      // A failed call leaves the page as a visitor sees it; the next navigation asks again.
    } finally {
      known.value = true
    }
  })()
  return call
}

/** Reads the viewer again (after a purchase settles: credit and ownership changed). */
export function refreshViewer(): Promise<void> {
  return loadViewer(lastCouponId)
}
