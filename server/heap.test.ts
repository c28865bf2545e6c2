import { execFileSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { APP_NODE_FLAGS } from '../scripts/lib/node-runtime.mjs'
import { busySwitch, collectGarbage, WEB_BUSY_FROM, WEB_REST_AFTER_SECONDS } from './heap'

// What applyHeapGrowth relies on: V8 honours --heap-growing-percent set at run time, not only on the
// command line. The same churn (a live set of ~20 batches, each batch garbage soon after) with and
// without it, each in a process of its own started with the app's V8 flags, reporting its peak RSS.
const CHURN = `
  import { setFlagsFromString } from 'node:v8'
  if (process.argv[1]) setFlagsFromString('--heap-growing-percent=' + process.argv[1])
  const live = []
  let peak = 0
  for (let i = 0; i < 3000; i++) {
    live.push(Array.from({ length: 2000 }, (_, j) => ({ id: i + '-' + j, v: new Array(8).fill(j) })))
    if (live.length > 20) live.shift()
    if (i % 50 === 0) {
      await new Promise((resolve) => setImmediate(resolve))
      peak = Math.max(peak, process.memoryUsage().rss)
    }
  }
  console.log(peak)
`
const peakRss = (percent?: number) => Number(execFileSync(
  process.execPath,
  [...APP_NODE_FLAGS, '--input-type=module', '-e', CHURN, ...(percent ? [String(percent)] : [])],
  { encoding: 'utf8' },
))

describe('heap growth set at run time', () => {
  it('keeps the peak RSS below what V8\'s own policy reaches', { timeout: 60_000 }, () => {
    const own = peakRss()
    const fifty = peakRss(50)
    expect(fifty / own).toBeLessThan(0.85)
  })
})

describe('the web\'s busy switch', () => {
  it('turns busy in the first busy second and back at rest only after a run of quiet ones', () => {
    const next = busySwitch()
    const busy = WEB_BUSY_FROM + 0.05
    expect(next(WEB_BUSY_FROM)).toBeUndefined() // starts at rest; the threshold itself is not busy
    expect(next(busy)).toBe('busy')
    expect(next(0.9)).toBeUndefined()
    const quiet = Array.from({ length: WEB_REST_AFTER_SECONDS - 1 }, () => next(0.01))
    expect(quiet.every((s) => s === undefined)).toBe(true)
    expect(next(busy)).toBeUndefined() // one busy second restarts the count
    for (let i = 1; i < WEB_REST_AFTER_SECONDS; i++) expect(next(0)).toBeUndefined()
    expect(next(0)).toBe('rest')
    expect(next(0)).toBeUndefined()
    expect(next(busy)).toBe('busy')
  })
})

describe('collectGarbage', () => {
  it('collects now, and leaves no global gc behind', () => {
    const holding = (() => {
      const garbage = Array.from({ length: 300_000 }, (_, i) => ({ i, s: `item ${i}` }))
      expect(garbage.length).toBe(300_000)
      return process.memoryUsage().heapUsed
    })() // garbage from here on
    collectGarbage()
    expect(process.memoryUsage().heapUsed).toBeLessThan(holding - 10 * 1024 * 1024)
    expect((globalThis as { gc?: unknown }).gc).toBeUndefined()
  })
})
