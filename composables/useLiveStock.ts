import type { Unsubscribable } from '@trpc/server/observable'
import type { Coupon } from './contract'

/** How often a page re-reads what it shows while live stock does not flow (the socket is down). */
export const FALLBACK_POLL_MS = 15_000

/**
 * Live stock of the coupons a page shows (anyone, signed in or not): one `coupon.onStock`
 * subscription over the tab's socket while the page is mounted, renewed when the coupons change.
 * `withStock` overlays the pushed values on coupons as loaded; `refresh` runs every 15 s, and only
 * while the socket is down.
 */
export function useLiveStock(couponIds: () => number[], refresh?: () => unknown) {
  const { $trpc } = useNuxtApp()
  const stock = useState<Record<number, number>>('live-stock', () => ({}))
  const connected = useState('live-connected', () => false)
  let subscription: Unsubscribable | null = null
  let timer: ReturnType<typeof setInterval> | undefined

  function subscribe(ids: number[]) {
    subscription?.unsubscribe()
    subscription = null
    // Values pushed to an earlier page may be older than what this page loaded: the current ones come first.
    stock.value = Object.fromEntries(Object.entries(stock.value).filter(([id]) => !ids.includes(Number(id))))
    if (!ids.length) return
    subscription = $trpc.coupon.onStock.subscribe({ couponIds: ids.slice(0, 50) }, {
      onData: (update) => { stock.value = { ...stock.value, [update.couponId]: update.stock } },
      onError: () => { subscription = null }, // a coupon deleted meanwhile, a full server: the fallback poll covers it
    })
  }

  onMounted(() => {
    watch(() => couponIds().join(','), () => subscribe(couponIds()), { immediate: true })
    if (refresh) {
      timer = setInterval(() => {
        if ((!connected.value || !subscription) && document.visibilityState === 'visible') refresh()
      }, FALLBACK_POLL_MS)
    }
  })
  onBeforeUnmount(() => {
    subscription?.unsubscribe()
    clearInterval(timer)
  })

  function withStock<T extends Pick<Coupon, 'id' | 'stock'>>(coupon: T): T {
    const live = stock.value[coupon.id]
    return live === undefined ? coupon : { ...coupon, stock: live }
  }

  return { stock, connected, withStock }
}
