import type { NuxtApp } from '#app'

// Module-level handler: every caller shares the 'my-orders' key with the same fetcher.
function fetchMine(nuxtApp: NuxtApp) {
  return nuxtApp.$trpc.order.mine.query()
}

/** The signed-in user's orders, newest first (`order.mine`); callers must be signed in. */
export function useMyOrders(options: { immediate?: boolean } = {}) {
  return useAsyncData('my-orders', fetchMine, { default: () => ({ items: [] }), immediate: options.immediate ?? true })
}
