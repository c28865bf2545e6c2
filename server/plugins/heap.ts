import { performance } from 'node:perf_hooks'
import { config } from '../config'
import { applyHeapGrowth, busySwitch, collectGarbage, WEB_HEAP_GROWING_PERCENT } from '../heap'
import { log } from '../observability/log'

/**
 * HEAP_GROWING_PERCENT for a web instance when set. Unset, WEB_HEAP_GROWING_PERCENT while the
 * instance is busy and V8's own policy at rest (server/heap.ts, busySwitch): the fixed growth keeps a
 * busy instance's old space small, but at rest V8's own policy gives memory back sooner (after a burst
 * of 5,000 sockets, 63 MB above the idle instance against 90–126 MB with the fixed growth).
 * On becoming busy the instance collects its garbage once: V8 sets the old space's next limit at each
 * major GC, so the limit its own policy set at rest (or at start) would otherwise stand until the
 * load has filled it — a fresh instance's first seconds of load grew it by ~80 MB (docs/decisions.md, "Memory").
 */
export default defineNitroPlugin(() => {
  const fixed = config().HEAP_GROWING_PERCENT
  if (fixed !== undefined) return applyHeapGrowth(fixed)
  const next = busySwitch()
  let last = performance.eventLoopUtilization()
  setInterval(() => {
    const now = performance.eventLoopUtilization()
    const switched = next(performance.eventLoopUtilization(now, last).utilization)
    last = now
    if (switched === 'rest') applyHeapGrowth(0)
    if (switched !== 'busy') return
    applyHeapGrowth(WEB_HEAP_GROWING_PERCENT)
    const started = performance.now()
    collectGarbage()
    log.debug('busy: heap growth fixed, garbage collected', { percent: WEB_HEAP_GROWING_PERCENT, gcMs: Math.round(performance.now() - started) })
  }, 1_000).unref()
})
