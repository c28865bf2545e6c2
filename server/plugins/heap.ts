import { config } from '../config'
import { applyHeapGrowth, WEB_HEAP_GROWING_PERCENT } from '../heap'

/** HEAP_GROWING_PERCENT for a web instance; unset, WEB_HEAP_GROWING_PERCENT (server/heap.ts). */
export default defineNitroPlugin(() => {
  applyHeapGrowth(config().HEAP_GROWING_PERCENT ?? WEB_HEAP_GROWING_PERCENT)
})
