/**
 * A background loop with start() and stop(): run() repeats its work until `stopping`, waiting between
 * rounds with sleep(), which stop() cuts short, so that a stop takes effect without waiting out a pause.
 */
export abstract class StoppableLoop {
  protected stopping = false
  private loop: Promise<void> | undefined
  private wake: (() => void) | undefined

  start(): void {
    this.loop ??= this.run()
  }

  /** Lets the round in hand end, then resolves once run() has returned. */
  async stop(): Promise<void> {
    this.stopping = true
    this.wake?.()
    await this.loop
  }

  protected abstract run(): Promise<void>

  protected sleep(ms: number): Promise<void> {
    if (this.stopping) return Promise.resolve()
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms)
      this.wake = () => {
        clearTimeout(timer)
        resolve()
      }
    })
  }
}
