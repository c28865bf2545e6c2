import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { loadScenarios, plan } from '../../bench/capacity.mjs'

/*
 * bench/capacity.mjs turns a benchmark result into the capacity plan: it reads the figures the run
 * measured, its counts follow them, and docs/capacity.md holds its current output.
 */

const scenarios = loadScenarios('bench/RESULTS.md')
const byName = (prefix: string) => scenarios.find((s: { name: string }) => s.name.startsWith(prefix))

describe('bench/capacity.mjs', () => {
  it('reads the measured figures of a run summary', () => {
    expect(byName('order.purchase burst, same shoppers')).toMatchObject({ rps: 1682, perCpuSecond: 1600 })
    expect(byName('order.purchase sold-out storm')).toMatchObject({ rps: 2882, perCpuSecond: 2963 })
    expect(byName('Redis+Lua reserve')).toMatchObject({ rps: 60741 })
    expect(byName('settlement, 2 payment workers')).toMatchObject({ rps: 2219 })
  })

  it('moves with the figures: twice the per-core rate needs about half the web instances; a hot coupon beyond one master is where it breaks', () => {
    const base = plan(scenarios, { attempts: 100_000 })
    const faster = plan(scenarios.map((s: { name: string, perCpuSecond?: number }) => (s.name.startsWith('order.purchase') ? { ...s, perCpuSecond: s.perCpuSecond! * 2 } : s)), { attempts: 100_000 })
    expect(faster.web.instances).toBeLessThanOrEqual(Math.ceil(base.web.instances / 2) + 1)
    expect(base.redis.hotCouponFits).toBe(false)
    expect(base.breaksFirst).toMatch(/hot coupon's Redis master/)
    const spread = plan(scenarios, { attempts: 100_000, coupons: 20 })
    expect(spread.redis.hotCouponFits).toBe(true)
    expect(spread.breaksFirst).toMatch(/web CPU/)
    expect(plan(scenarios, { attempts: 100_000, stock: 100_000, settleWithin: 10 }).workers.count).toBeGreaterThan(base.workers.count)
  })

  it('is what docs/capacity.md shows', () => {
    const output = execFileSync(process.execPath, ['bench/capacity.mjs', 'bench/RESULTS.md'], { encoding: 'utf8' })
    const doc = readFileSync('docs/capacity.md', 'utf8')
    const block = doc.slice(doc.indexOf('-->\n', doc.indexOf('<!-- capacity:begin')) + 4, doc.indexOf('<!-- capacity:end -->'))
    expect(block).toBe(output)
  })
})
