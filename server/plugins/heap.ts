import { config } from '../config'
import { applyHeapGrowth } from '../heap'

/** HEAP_GROWING_PERCENT for a web instance; unset, V8's own policy (server/heap.ts). */
export default defineNitroPlugin(() => {
  applyHeapGrowth(config().HEAP_GROWING_PERCENT)
})
