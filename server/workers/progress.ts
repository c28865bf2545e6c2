/**
 * Whether this worker's consumer is really consuming, from what it does rather than from its own
 * word: it must be a member of the group, and each of its partitions with events waiting must move
 * forward. A consumer that crashed, is still joining, or holds a partition with lag whose offset has
 * not moved for `notReadyMs` is not ready; either state lasting `notLiveMs` makes it not live (the
 * probes restart it).
 */
export type Membership = 'joining' | 'member' | 'crashed' | 'stopped'

interface PartitionProgress {
  /** The partition's high watermark when last fetched (the next offset to be written). */
  end: number
  /** The next offset this member has to settle. */
  position: number
  /** When `position` last moved (or the partition was first seen). */
  movedAt: number
}

export interface ProgressVerdict {
  ready: boolean
  live: boolean
  membership: Membership
  /** events waiting in this member's partitions, as last seen */
  lag: number
  /** how long a partition with lag has not moved, or how long the consumer has not been a member */
  stalledSeconds: number
}

export class ConsumerProgress {
  private membership: Membership = 'joining'
  private since: number
  private partitions = new Map<number, PartitionProgress>()
  /** Paused on purpose (an operator's drain): waiting events are not a stall then. */
  private paused = false

  constructor(private readonly limits: { notReadyMs: number, notLiveMs: number }, now = Date.now()) {
    this.since = now
  }

  private become(membership: Membership, now: number): void {
    if (membership !== this.membership) this.since = now
    this.membership = membership
  }

  /** Joined (again) with these partitions: earlier positions mean nothing now. */
  joined(partitions: number[], now = Date.now()): void {
    this.become('member', now)
    this.partitions = new Map(partitions.map((p) => [p, { end: 0, position: 0, movedAt: now }]))
  }

  /** Rebalancing, crashed and restarting, or stopped. */
  left(membership: Exclude<Membership, 'member'>, now = Date.now()): void {
    this.become(membership, now)
    this.partitions.clear()
  }

  /** A batch arrived: the partition's end, and where this member stands in it. */
  fetched(partition: number, end: number, firstOffset: number, now = Date.now()): void {
    const p = this.partitions.get(partition) ?? { end, position: firstOffset, movedAt: now }
    p.end = Math.max(p.end, end)
    if (firstOffset > p.position) {
      p.position = firstOffset
      p.movedAt = now
    }
    this.partitions.set(partition, p)
  }

  /** Settled and committed up to `next` (exclusive). */
  committed(partition: number, next: number, now = Date.now()): void {
    const p = this.partitions.get(partition)
    if (!p || next <= p.position) return
    p.position = next
    p.movedAt = now
  }

  pause(paused: boolean, now = Date.now()): void {
    this.paused = paused
    if (!paused) for (const p of this.partitions.values()) p.movedAt = now
  }

  verdict(now = Date.now()): ProgressVerdict {
    const lagging = [...this.partitions.values()].filter((p) => p.end > p.position)
    const lag = lagging.reduce((sum, p) => sum + p.end - p.position, 0)
    let stalledMs = 0
    if (this.membership !== 'member') stalledMs = now - this.since
    else if (!this.paused && lagging.length) stalledMs = now - Math.min(...lagging.map((p) => p.movedAt))
    const member = this.membership === 'member'
    return {
      ready: member && stalledMs < this.limits.notReadyMs,
      live: this.membership === 'stopped' || stalledMs < this.limits.notLiveMs,
      membership: this.membership,
      lag,
      stalledSeconds: Math.round(stalledMs / 100) / 10,
    }
  }
}
