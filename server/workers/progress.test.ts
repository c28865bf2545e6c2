import { describe, expect, it } from 'vitest'
import { ConsumerProgress } from './progress'

const limits = { notReadyMs: 15_000, notLiveMs: 120_000 }

describe('ConsumerProgress: whether a worker is really consuming', () => {
  it('is not ready while joining, ready once a member, and not live after joining too long', () => {
    const p = new ConsumerProgress(limits, 0)
    expect(p.verdict(1_000)).toMatchObject({ ready: false, live: true, membership: 'joining' })
    p.joined([0, 1, 2], 2_000)
    expect(p.verdict(3_000)).toMatchObject({ ready: true, live: true, membership: 'member', lag: 0 })
    p.left('crashed', 4_000)
    expect(p.verdict(10_000)).toMatchObject({ ready: false, live: true, membership: 'crashed' })
    expect(p.verdict(4_000 + 120_000)).toMatchObject({ ready: false, live: false })
  })

  it('counts a stall only on a partition with lag whose position does not move', () => {
    const p = new ConsumerProgress(limits, 0)
    p.joined([0, 1], 0)
    p.fetched(0, 500, 100, 1_000)
    expect(p.verdict(10_000)).toMatchObject({ ready: true, lag: 400 })
    expect(p.verdict(16_001)).toMatchObject({ ready: false, live: true, lag: 400, stalledSeconds: 15 })
    p.committed(0, 300, 16_500)
    expect(p.verdict(17_000)).toMatchObject({ ready: true, lag: 200 })
    p.committed(0, 500, 18_000)
    // caught up: however long nothing arrives, that is no stall
    expect(p.verdict(500_000)).toMatchObject({ ready: true, live: true, lag: 0 })
    expect(p.verdict(16_001 + 200_000).stalledSeconds).toBe(0)
    p.fetched(1, 50, 10, 600_000)
    expect(p.verdict(600_000 + 120_001)).toMatchObject({ ready: false, live: false, lag: 40 })
  })

  it('forgets positions when the group is joined again, and does not count an operator\'s drain as a stall', () => {
    const p = new ConsumerProgress(limits, 0)
    p.joined([0], 0)
    p.fetched(0, 100, 0, 0)
    p.pause(true, 1_000)
    expect(p.verdict(200_000)).toMatchObject({ ready: true, live: true, lag: 100 })
    p.pause(false, 200_000)
    expect(p.verdict(210_000)).toMatchObject({ ready: true })
    expect(p.verdict(216_000)).toMatchObject({ ready: false })
    p.joined([1], 216_000)
    expect(p.verdict(300_000)).toMatchObject({ ready: true, lag: 0 })
  })
})
