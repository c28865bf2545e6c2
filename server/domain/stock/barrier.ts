import type { PartitionPosition } from '../../observability/kafka-lag'
import { PUBLISH_TIMEOUT_MS } from '../payments/events'

/**
 * The Kafka-offset barrier in front of loading a coupon Redis has lost (or never had): its events
 * still in flight must be settled first, or MySQL would be read before a commit it is about to get.
 * When the loss is first seen, the topic's end offsets are recorded; once a publish timeout has
 * passed (no web can still be publishing an older event) and the group's positions have passed
 * those offsets, the coupon may be loaded. Until then it answers TRY_AGAIN_LATER.
 */
export class LoadBarrier {
  private readonly waiting = new Map<number, { seenAt: number, ends: Map<number, number> }>()

  constructor(private readonly positions: () => Promise<PartitionPosition[]>, private readonly settleMs = PUBLISH_TIMEOUT_MS + 1_000) {}

  /** Whether the coupon's load may go ahead now; the first call for a coupon starts its wait. */
  async ready(couponId: number, now: number): Promise<boolean> {
    const seen = this.waiting.get(couponId)
    if (!seen) {
      const ends = new Map((await this.positions()).map((p) => [p.partition, p.end]))
      this.waiting.set(couponId, { seenAt: now, ends })
      return false
    }
    if (now - seen.seenAt < this.settleMs) return false
    const current = await this.positions()
    return current.every((p) => p.position >= (seen.ends.get(p.partition) ?? 0))
  }

  /** Forgets a coupon (loaded, or found loaded by someone else). */
  done(couponId: number): void {
    this.waiting.delete(couponId)
  }

  get size(): number {
    return this.waiting.size
  }
}
