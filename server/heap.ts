import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

/**
 * The worker's heap growth unless HEAP_GROWING_PERCENT says otherwise: its peak RSS under load
 * stayed above 150 MB with V8's own policy (docs/decisions.md, "Memory").
 */
export const WORKER_HEAP_GROWING_PERCENT = 50

/**
 * The web's while it is busy (server/plugins/heap.ts): V8's own policy let a busy instance's old space
 * grow to several times its live heap (peak RSS ~280 MB under the pipeline's load against ~190–210 MB
 * at 100, the web's CPU per purchase within the rounds' spread; 50 cost it ~11 %: docs/decisions.md,
 * "Memory"). At rest V8's own policy gives memory back sooner.
 */
export const WEB_HEAP_GROWING_PERCENT = 100

/**
 * The web counts as busy once its event loop was busy more than this share of a second, and at rest
 * again after WEB_REST_AFTER_SECONDS quieter seconds in a row. Through NGINX under the pipeline's load
 * the loop is busy about half of each second (it waits on Redis and Kafka), so a threshold of one half
 * switched back and forth; 10,000 open subscriptions at rest keep it busy a few per cent.
 */
export const WEB_BUSY_FROM = 0.1
export const WEB_REST_AFTER_SECONDS = 10

/**
 * How far V8 lets the old space grow above the live heap before its next major GC, for this process.
 * V8 reads the flag at each GC, so setting it at start works; NODE_OPTIONS cannot carry it.
 */
export function applyHeapGrowth(percent: number | undefined): void {
  if (percent !== undefined) setFlagsFromString(`--heap-growing-percent=${percent}`)
}

/**
 * Fed the event loop's utilization once a second, says when the web becomes busy ('busy': at once
 * above WEB_BUSY_FROM) and when it is at rest again ('rest': after WEB_REST_AFTER_SECONDS seconds at
 * or below it in a row, so a shop hovering around the threshold does not switch every second).
 * Returns undefined while nothing changes. It starts at rest.
 */
export function busySwitch(): (utilization: number) => 'busy' | 'rest' | undefined {
  let busy = false
  let quietSeconds = 0
  return (utilization) => {
    if (utilization > WEB_BUSY_FROM) {
      quietSeconds = 0
      if (busy) return undefined
      busy = true
      return 'busy'
    }
    if (!busy || ++quietSeconds < WEB_REST_AFTER_SECONDS) return undefined
    busy = false
    return 'rest'
  }
}

let gc: (() => void) | undefined
/**
 * A full garbage collection now: V8's gc(), taken from a context of its own with --expose-gc on only
 * for that moment, so no global `gc` appears in the app.
 */
export function collectGarbage(): void {
  if (!gc) {
    setFlagsFromString('--expose-gc')
    gc = runInNewContext('gc') as () => void
    setFlagsFromString('--no-expose-gc')
  }
  gc()
}
