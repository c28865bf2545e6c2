/** Where a drained stream hands its items, then its end (an object, so a subscription needs no closures for it). */
export interface StreamSink<T> {
  item: (item: T) => void
  end: () => void
}

/**
 * An async iterator fed by pushes: what a subscription procedure returns. Its clean-ups (leaving a
 * feed, freeing the socket's subscription slot) run exactly once, when the subscription stops
 * (`return()`), when the signal aborts, or on `end()` — also when iteration never started, which is
 * why this is not an async generator (a generator's `finally` does not run if it never started).
 * The socket drains it instead of iterating (`drain`): an idle subscription then waits on no promise.
 */
export class PushStream<T> implements AsyncIterableIterator<T> {
  // Made when first needed: thousands of idle subscriptions hold one stream each.
  private queue: T[] | undefined
  private waiting: ((result: IteratorResult<T>) => void) | undefined
  private ended = false
  private cleanups: (() => void)[] | undefined
  private sink: StreamSink<T> | undefined

  constructor(signal?: AbortSignal) {
    if (signal?.aborted) this.end()
    else signal?.addEventListener('abort', () => this.end(), { once: true })
  }

  get closed(): boolean {
    return this.ended
  }

  /** Runs `fn` when the stream ends (at once if it already has). */
  onEnd(fn: () => void): void {
    if (this.ended) return fn()
    // Copied rather than pushed: a push reserves room for 16 more (a stream holds two or three).
    this.cleanups = this.cleanups ? [...this.cleanups, fn] : [fn]
  }

  push(item: T): void {
    if (this.ended) return
    if (this.sink) return this.sink.item(item)
    const waiting = this.waiting
    if (waiting) {
      this.waiting = undefined
      waiting({ value: item, done: false })
    } else {
      (this.queue ??= []).push(item)
    }
  }

  end(): void {
    if (this.ended) return
    this.ended = true
    const cleanups = this.cleanups ?? []
    this.cleanups = undefined
    for (const fn of cleanups) fn()
    this.waiting?.({ value: undefined, done: true })
    this.waiting = undefined
    this.sink?.end()
  }

  /** Hands every item to `sink.item` as it comes (the queued ones first), and calls `sink.end` once it ends. */
  drain(sink: StreamSink<T>): void {
    const queued = this.queue ?? []
    this.queue = undefined
    for (const item of queued) sink.item(item)
    if (this.ended) return sink.end()
    this.sink = sink
  }

  next(): Promise<IteratorResult<T>> {
    if (this.queue?.length) return Promise.resolve({ value: this.queue.shift()!, done: false })
    if (this.ended) return Promise.resolve({ value: undefined, done: true })
    return new Promise((resolve) => { this.waiting = resolve })
  }

  return(): Promise<IteratorResult<T>> {
    this.queue = undefined
    this.end()
    return Promise.resolve({ value: undefined, done: true })
  }

  [Symbol.asyncIterator](): this {
    return this
  }
}
