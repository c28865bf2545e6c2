import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { loadScenarios, plan, roomPlan, scenariosFromSummary } from './capacity.mjs'

/*
 * bench/capacity.mjs turns a benchmark result into the capacity plan: it reads the figures the run
 * measured, its counts follow them, and docs/capacity.md holds its current output.
 */

const scenarios = loadScenarios('bench/RESULTS.md')
const byName = (prefix: string) => scenarios.find((s: { name: string }) => s.name.startsWith(prefix))

describe('bench/capacity.mjs', () => {
  it('reads the measured figures of a run summary', () => {
    // rows as the benchmark's summary.md writes them
    const summary = [
      '| scenario | rate | per server CPU-second | p50 ms | p95 ms | p99 ms | answers / notes | server CPU | wrk CPU |',
      '|---|---:|---:|---:|---:|---:|---|---:|---:|',
      '| order.purchase burst, same shoppers, tokens cached | 1,682 req/s | 1,600 | 24.39 | 45.37 | 51.99 | 200: 1000 | 86 % | 6 % |',
      '| order.purchase sold-out storm | 2,882 req/s | 2,963 | 14.95 | 31.24 | 38.20 | 200: 100 | 108 % | 10 % |',
      '| Redis+Lua reserve (ioredis EVALSHA, 200 callers) | 60,741 reservations/s | – | 5.45 | – | 13.10 | 17.4 µs Node CPU per call | – | – |',
    ].join('\n')
    const parsed = scenariosFromSummary(summary)
    expect(parsed).toHaveLength(3)
    expect(parsed[0]).toMatchObject({ rps: 1682, perCpuSecond: 1600, p99: 51.99 })
    expect(parsed[1]).toMatchObject({ rps: 2882, perCpuSecond: 2963 })
    expect(parsed[2]).toMatchObject({ rps: 60741, perCpuSecond: undefined })
    // and the committed results have every scenario the plan needs
    for (const prefix of [
      'order.purchase burst, same shoppers',
      'order.purchase sold-out storm',
      'Redis+Lua reserve',
      'settlement, 2 payment workers',
    ]) {
      expect(byName(prefix)?.rps).toBeGreaterThan(0)
    }
  })

  it('moves with the figures: twice the per-core rate needs about half the web instances; a hot coupon beyond one master is where it breaks', () => {
    const base = plan(scenarios, { attempts: 100_000 })
    const faster = plan(
      scenarios.map((s: { name: string, perCpuSecond?: number }) =>
        s.name.startsWith('order.purchase') ? { ...s, perCpuSecond: s.perCpuSecond! * 2 } : s,
      ),
      { attempts: 100_000 },
    )
    expect(faster.web.instances).toBeLessThanOrEqual(Math.ceil(base.web.instances / 2) + 1)
    expect(base.redis.hotCouponFits).toBe(false)
    expect(base.breaksFirst).toMatch(/hot coupon's Redis master/)
    const spread = plan(scenarios, { attempts: 100_000, coupons: 20 })
    expect(spread.redis.hotCouponFits).toBe(true)
    expect(spread.breaksFirst).toMatch(/web CPU/)
    // a stock to settle beyond one worker's measured rate: more workers where the second one added
    // payments/s, settlement as the first limit where it added none
    const one = byName('settlement, 1 payment worker')!.rps
    const secondAdds = (factor: number) => scenarios.map((s: { name: string, rps: number }) =>
      s.name.startsWith('settlement, 2 payment workers') ? { ...s, rps: one * factor } : s)
    const big = { attempts: 1_000_000, coupons: 100, stock: Math.ceil(20 * one), settleWithin: 10 }
    expect(plan(secondAdds(1.5), big).workers.count).toBeGreaterThan(base.workers.count)
    const bound = plan(secondAdds(0.8), big)
    expect(bound.workers.count).toBe(2)
    expect(bound.breaksFirst).toMatch(/^settlement/)
  })

  it('weighs a million shoppers on one coupon behind its waiting room against one master, and moves with the figures', () => {
    const room = roomPlan(scenarios, { shoppers: 1_000_000 })
    // the verdict is the measured run's, read against the 70 % ceiling: 57 % of a core in the run of
    // 2026-12-08 00:02, 70.3 % in the run of 05:09 (docs/capacity.md shows whichever is on top)
    expect(room.redis.fits).toBe(Math.max(room.redis.joinPhase, room.redis.opening) <= 0.7)
    expect(roomPlan(scenarios, { shoppers: 1_000_000, utilization: 1 }).redis.fits).toBe(true)
    expect(room.reserveScriptsPerSecond).toBe(1_000)
    // twice the Redis cost per join takes twice the master's share while shoppers join
    const costly = roomPlan(scenarios.map((s: { name: string, note?: string }) => (s.name.startsWith('queue.join through HTTP') ? { ...s, note: s.note!.replace(/Redis ([\d.]+)/, (_, us: string) => `Redis ${Number(us) * 2}`) } : s)), { shoppers: 1_000_000 })
    expect(costly.redis.joinPhase).toBeCloseTo(room.redis.joinPhase * 2, 5)
    // ten million joining within a minute is more than one master can take
    expect(roomPlan(scenarios, { shoppers: 10_000_000, joinWithin: 60 }).redis.fits).toBe(false)
  })

  it('is what docs/capacity.md shows', () => {
    const output = execFileSync(process.execPath, ['bench/capacity.mjs', 'bench/RESULTS.md'], { encoding: 'utf8' })
    const doc = readFileSync('docs/capacity.md', 'utf8')
    const block = doc.slice(doc.indexOf('-->\n', doc.indexOf('<!-- capacity:begin')) + 4, doc.indexOf('<!-- capacity:end -->'))
    expect(block, 'docs/capacity.md is stale: run node bench/capacity.mjs bench/RESULTS.md --write').toBe(output)
    const roomOutput = execFileSync(process.execPath, ['bench/capacity.mjs', 'bench/RESULTS.md', '--room'], { encoding: 'utf8' })
    const roomBlock = doc.slice(
      doc.indexOf('-->\n', doc.indexOf('<!-- capacity-room:begin')) + 4,
      doc.indexOf('<!-- capacity-room:end -->'),
    )
    expect(roomBlock, 'docs/capacity.md is stale: run node bench/capacity.mjs bench/RESULTS.md --write').toBe(roomOutput)
  })
})
