/**
 * An async iterator fed by pushes: what a subscription procedure returns. Its clean-ups (leaving a
 * feed, freeing the socket's subscription slot) run exactly once, when tRPC stops the subscription
 * (`return()`), when the signal aborts, or on `end()` — also when iteration never started, which is
 * why this is not an async generator (a generator's `finally` does not run if it never started).
 */
export class PushStream<T> implements AsyncIterableIterator<T> {
  private queue: T[] = []
  private waiting: ((result: IteratorResult<T>) => void) | undefined
  private ended = false
  private readonly cleanups: (() => void)[] = []

  constructor(signal?: AbortSignal) {
    if (signal?.aborted) this.end()
    else signal?.addEventListener('abort', () => this.end(), { once: true })
  }

  get closed(): boolean {
    return this.ended
  }

  /** Runs `fn` when the stream ends (at once if it already has). */
  onEnd(fn: () => void): void {
    if (this.ended) fn()
    else this.cleanups.push(fn)
  }

  push(item: T): void {
    if (this.ended) return
    const waiting = this.waiting
    if (waiting) {
      this.waiting = undefined
      waiting({ value: item, done: false })
    } else {
      this.queue.push(item)
    }
  }

  end(): void {
    if (this.ended) return
    this.ended = true
    for (const fn of this.cleanups.splice(0)) fn()
    this.waiting?.({ value: undefined, done: true })
    this.waiting = undefined
  }

  next(): Promise<IteratorResult<T>> {
    if (this.queue.length) return Promise.resolve({ value: this.queue.shift()!, done: false })
    if (this.ended) return Promise.resolve({ value: undefined, done: true })
    return new Promise((resolve) => { this.waiting = resolve })
  }

  return(): Promise<IteratorResult<T>> {
    this.queue = []
    this.end()
    return Promise.resolve({ value: undefined, done: true })
  }

  [Symbol.asyncIterator](): this {
    return this
  }
}
