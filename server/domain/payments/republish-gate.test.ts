import { describe, expect, it } from 'vitest'
import type { PartitionPosition } from '../../observability/kafka-lag'
import { PUBLISH_TIMEOUT_MS } from './events'
import { RepublishGate } from './republish-gate'

/** A topic of two partitions whose ends and the group's positions the test moves. */
function topic() {
  const state = { ends: [10, 10], positions: [10, 10] }
  const positions = async (): Promise<PartitionPosition[]> =>
    state.ends.map((end, partition) => ({ partition, end, position: state.positions[partition]! }))
  return { state, gate: new RepublishGate(positions) }
}

describe('RepublishGate', () => {
  it('lets a stale entry through at once when the workers are caught up (a lost event)', async () => {
    const { gate } = topic()
    const due = await gate.check(100_000)
    expect(due(100_000 - 10_000)).toBe(true)
    expect(gate.waiting).toBe(0)
  })

  it('holds stale entries while the workers are behind, and lets them through once the group passes the mark', async () => {
    const { state, gate } = topic()
    state.ends = [500, 400]
    state.positions = [100, 50]
    const reservedAt = 100_000
    let due = await gate.check(reservedAt + 10_500)
    expect(due(reservedAt)).toBe(false)
    expect(gate.waiting).toBe(1)

    // more events arrive meanwhile; one partition passes the first mark, the other not yet
    state.ends = [700, 600]
    state.positions = [500, 399]
    due = await gate.check(reservedAt + 12_500)
    expect(due(reservedAt)).toBe(false)

    // both have passed the first mark (not the second): entries old enough for the first are due
    state.positions = [650, 450]
    due = await gate.check(reservedAt + 14_500)
    expect(due(reservedAt)).toBe(true)
    // an entry reserved after the first mark's time minus the publish timeout waits for a later mark
    expect(due(reservedAt + 10_500 - PUBLISH_TIMEOUT_MS + 1)).toBe(false)
    expect(gate.waiting).toBe(2)

    // caught up: every mark passed
    state.positions = [700, 600]
    due = await gate.check(reservedAt + 16_500)
    expect(due(reservedAt + 13_000)).toBe(true)
    expect(gate.waiting).toBe(0)
  })

  it('does not wait for offsets the broker no longer has (a log that lost its tail)', async () => {
    const { state, gate } = topic()
    state.ends = [500, 400]
    state.positions = [100, 50]
    expect((await gate.check(20_000))(0)).toBe(false)
    state.ends = [300, 400] // partition 0's tail gone: its end is lower than at the mark
    state.positions = [300, 400]
    expect((await gate.check(22_000))(0)).toBe(true)
    expect(gate.waiting).toBe(0)
  })
})
