import { setFlagsFromString } from 'node:v8'

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
 * How far V8 lets the old space grow above the live heap before its next major GC, for this process.
 * V8 reads the flag at each GC, so setting it at start works; NODE_OPTIONS cannot carry it.
 */
export function applyHeapGrowth(percent: number | undefined): void {
  if (percent !== undefined) setFlagsFromString(`--heap-growing-percent=${percent}`)
}
