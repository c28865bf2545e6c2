import type { KafkaMessage } from 'kafkajs'

/** One partition's chunk of events, handed in by that partition's batch handler. */
export interface Chunk {
  partition: number
  messages: KafkaMessage[]
}

interface Waiting extends Chunk {
  resolve: () => void
  reject: (error: unknown) => void
}

/**
 * Settles together what the consumer's partition batches hand in at the same moment. kafkajs gives
 * the batches of one fetch to its concurrent handlers in one go, and each handler hands in its next
 * chunk as soon as the previous round is done, so the chunks of one turn of the event loop form a
 * round: one MySQL transaction, one Redis follow-up and one offset commit for all of them, instead
 * of one of each per partition — the broker's and MySQL's cost is per request, not per event.
 * Each handler still settles its own partition in order: it hands in its next chunk only after the
 * round holding the previous one is done. A round that fails fails every chunk in it.
 */
export class Rounds {
  private waiting: Waiting[] = []
  private scheduled = false

  constructor(private readonly settle: (chunks: Chunk[]) => Promise<void>) {}

  /** Resolves once the round holding this chunk is settled and committed. */
  submit(chunk: Chunk): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ ...chunk, resolve, reject })
      if (this.scheduled) return
      this.scheduled = true
      setImmediate(() => this.flush())
    })
  }

  private flush(): void {
    this.scheduled = false
    const round = this.waiting
    this.waiting = []
    this.settle(round.map(({ partition, messages }) => ({ partition, messages }))).then(
      () => round.forEach((w) => w.resolve()),
      (error: unknown) => round.forEach((w) => w.reject(error)),
    )
  }
}
