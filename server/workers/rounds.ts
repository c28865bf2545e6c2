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

export interface RoundLimits {
  /** Rounds settling at the same time at most. */
  inFlight: number
  /** Events waiting that are worth a round of their own beside one in flight (a backlog, not a trickle). */
  overlapFrom: number
}

/**
 * Settles together what the consumer's partition batches hand in at the same moment. kafkajs gives
 * the batches of one fetch to its concurrent handlers in one go, and each handler hands in its next
 * chunk as soon as the previous round is done, so the chunks of one turn of the event loop form a
 * round: one MySQL transaction, one Redis follow-up and one offset commit for all of them, instead
 * of one of each per partition — the broker's and MySQL's cost is per request, not per event.
 *
 * Under a backlog, rounds overlap (up to `inFlight`): while one waits on MySQL's commit, the next is
 * claimed in Redis and written. Only then: chunks that come in while a round is in flight wait for
 * it unless at least `overlapFrom` events are waiting, so a trickle still gathers into one round
 * instead of multiplying small ones. The chunks waiting are shared among the rounds that may start,
 * a share of at least `overlapFrom` events each.
 *
 * Each handler still settles its own partition in order: it hands in its next chunk only after the
 * round holding the previous one is done, so two rounds in flight never hold the same partition.
 * A round that fails fails every chunk in it.
 */
export class Rounds {
  private waiting: Waiting[] = []
  private scheduled = false
  private running = 0
  private onIdle: (() => void)[] = []

  constructor(
    private readonly settle: (chunks: Chunk[]) => Promise<void>,
    private readonly limits: RoundLimits = { inFlight: 1, overlapFrom: Infinity },
  ) {}

  /** Resolves once the round holding this chunk is settled and committed. */
  submit(chunk: Chunk): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ ...chunk, resolve, reject })
      this.schedule()
    })
  }

  /** Resolves once no chunk waits and no round is in flight (a drain: the handlers hand in no more). */
  idle(): Promise<void> {
    if (!this.running && !this.waiting.length) return Promise.resolve()
    return new Promise((resolve) => this.onIdle.push(resolve))
  }

  private schedule(): void {
    if (this.scheduled) return
    this.scheduled = true
    setImmediate(() => this.flush())
  }

  private flush(): void {
    this.scheduled = false
    for (;;) {
      const events = this.waiting.reduce((n, w) => n + w.messages.length, 0)
      const free = this.limits.inFlight - this.running
      if (!events || free <= 0 || (this.running > 0 && events < this.limits.overlapFrom)) return
      const rounds = Math.max(1, Math.min(free, Math.floor(events / this.limits.overlapFrom)))
      this.start(this.take(events / rounds))
    }
  }

  /** The first chunks waiting, until they hold `events` (at least one chunk). */
  private take(events: number): Waiting[] {
    let n = 0
    let count = 0
    while (count < this.waiting.length && (count === 0 || n < events)) n += this.waiting[count++]!.messages.length
    return this.waiting.splice(0, count)
  }

  private start(round: Waiting[]): void {
    this.running++
    this.settle(round.map(({ partition, messages }) => ({ partition, messages })))
      .then(
        () => round.forEach((w) => w.resolve()),
        (error: unknown) => round.forEach((w) => w.reject(error)),
      )
      .finally(() => {
        this.running--
        if (this.waiting.length) this.schedule()
        else if (!this.running) this.onIdle.splice(0).forEach((resolve) => resolve())
      })
  }
}
