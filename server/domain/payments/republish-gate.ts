import type { PartitionPosition } from '../../observability/kafka-lag'
import { PUBLISH_TIMEOUT_MS } from './events'

/** Marks kept while the workers are behind: one per pass that found stale entries (~2 s), ~30 min. */
const MAX_MARKS = 1_000

/**
 * Which stale reservations the reconciler may re-publish: those whose event, had the web published
 * it, the payment workers have consumed already. A reservation also goes stale while its event merely
 * waits in a backlog (workers catching up after an outage); re-publishing it then added a duplicate of
 * every waiting event to the backlog, in one produce request the broker refused once it was large.
 *
 * Each pass with stale entries records the topic's end offsets (a mark, on Redis' clock) and reads the
 * group's positions; once the positions pass a mark on every partition, every event written before it
 * has been settled. An entry reserved at `at` is due once a mark taken PUBLISH_TIMEOUT_MS after `at`
 * or later has been passed (no web can still be publishing its event then). With the workers caught
 * up, the positions pass the mark in the same pass: a lost event is re-published at once, as before.
 */
export class RepublishGate {
  private marks: { at: number, ends: Map<number, number> }[] = []
  /** Redis time of the latest mark the group has passed. */
  private passedAt = -Infinity

  constructor(private readonly positions: () => Promise<PartitionPosition[]>) {}

  /** Records this pass's mark (`now`: Redis time) and returns whether an entry reserved at `at` is due. */
  async check(now: number): Promise<(at: number) => boolean> {
    const current = await this.positions()
    this.marks.push({ at: now, ends: new Map(current.map((p) => [p.partition, p.end])) })
    if (this.marks.length > MAX_MARKS) this.marks.shift()
    const latest = new Map(current.map((p) => [p.partition, p]))
    // (an end lower now than at the mark: the broker lost the log's tail, which nobody will consume)
    const passed = ([partition, end]: [number, number]) => {
      const p = latest.get(partition)
      return !p || p.position >= Math.min(end, p.end)
    }
    while (this.marks.length && [...this.marks[0]!.ends].every(passed)) {
      this.passedAt = this.marks.shift()!.at
    }
    const passedAt = this.passedAt
    return (at) => at + PUBLISH_TIMEOUT_MS <= passedAt
  }

  /** Marks not yet passed: how far behind the workers are, in passes. */
  get waiting(): number {
    return this.marks.length
  }
}
