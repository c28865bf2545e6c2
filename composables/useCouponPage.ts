import { withRetry } from './retry'

/**
 * One page of the catalogue, the page number taken from `?page=` (1 when absent or invalid), loaded
 * with retries of TRY_AGAIN_LATER. `enabled` false loads nothing (e.g. a visitor who may not see it).
 */
export function useCouponPage(key: string, pageSize: number, enabled: () => boolean = () => true) {
  const route = useRoute()
  const page = computed(() => {
    const n = Number(route.query.page)
    return Number.isInteger(n) && n >= 1 ? n : 1
  })
  const { $trpc } = useNuxtApp()
  const loaded = useAsyncData(
    () => `${key}-${page.value}`,
    () => (enabled() ? withRetry(() => $trpc.coupon.list.query({ page: page.value, pageSize })) : Promise.resolve(null)),
  )
  return { page, loaded }
}
