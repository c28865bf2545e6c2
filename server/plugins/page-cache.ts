import { onInvalidate } from '../cache/invalidation'
import { pageRenderStorage, schedulePageRenderClear } from '../cache/pages'

/**
 * Shared page renders (nuxt.config routeRules): their storage is Redis, and every instance clears them
 * when the catalogue changes. Each instance clears after its own L1 has dropped the old data (the L1
 * listener registered first), so no instance can put an old render back for long. `stock-returned`
 * does not change a page (the coupon page reads live stock after hydration).
 */
export default defineNitroPlugin(() => {
  useStorage().mount('pages', pageRenderStorage({}))
  onInvalidate((message) => {
    if (message.reason !== 'stock-returned') schedulePageRenderClear()
  })
})
