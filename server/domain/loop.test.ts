import { describe, expect, it } from 'vitest'
import { StoppableLoop } from './loop'

class Counter extends StoppableLoop {
  rounds = 0
  finished = false
  protected async run(): Promise<void> {
    while (!this.stopping) {
      this.rounds++
      await this.sleep(60_000)
    }
    this.finished = true
  }
}

describe('StoppableLoop', () => {
  it('stops at once, cutting its pause short, after run() has finished', async () => {
    const loop = new Counter()
    loop.start()
    loop.start() // a second start does not run it twice
    const started = Date.now()
    await loop.stop()
    expect(Date.now() - started).toBeLessThan(1_000)
    expect({ rounds: loop.rounds, finished: loop.finished }).toEqual({ rounds: 1, finished: true })
  })
})
