import type { KafkaMessage } from 'kafkajs'
import { describe, expect, it } from 'vitest'
import { Rounds, type Chunk } from './rounds'

const chunk = (partition: number, events: number): Chunk => ({
  partition,
  messages: Array.from({ length: events }, (_, i) => ({ offset: String(i) }) as KafkaMessage),
})

/** A settle function that records each round and finishes it only when told. */
function recorder() {
  const rounds: { partitions: number[], events: number, finish: (error?: Error) => void }[] = []
  let inFlight = 0
  let mostInFlight = 0
  const settle = (chunks: Chunk[]) => new Promise<void>((resolve, reject) => {
    mostInFlight = Math.max(mostInFlight, ++inFlight)
    rounds.push({
      partitions: chunks.map((c) => c.partition),
      events: chunks.reduce((n, c) => n + c.messages.length, 0),
      finish: (error) => {
        inFlight--
        if (error) reject(error)
        else resolve()
      },
    })
  })
  return { rounds, settle, mostInFlight: () => mostInFlight }
}

/** Past the rounds' next flush (a round's end schedules one after its chunks' promises settle). */
const turn = async () => {
  for (let i = 0; i < 2; i++) await new Promise((resolve) => setImmediate(resolve))
}

describe('Rounds: what is settled together, and what beside it', () => {
  it('settles the chunks handed in at the same moment as one round, and no other round before it ends', async () => {
    const r = recorder()
    const rounds = new Rounds(r.settle)
    const done = [rounds.submit(chunk(0, 200)), rounds.submit(chunk(1, 200)), rounds.submit(chunk(2, 5))]
    await turn()
    expect(r.rounds.map((x) => x.partitions)).toEqual([[0, 1, 2]])
    const later = rounds.submit(chunk(3, 500))
    await turn()
    expect(r.rounds).toHaveLength(1)
    r.rounds[0]!.finish()
    await Promise.all(done)
    await turn()
    expect(r.rounds.map((x) => x.partitions)).toEqual([[0, 1, 2], [3]])
    r.rounds[1]!.finish()
    await later
    expect(r.mostInFlight()).toBe(1)
  })

  it('under a backlog, shares the chunks among the rounds that may be in flight', async () => {
    const r = recorder()
    const rounds = new Rounds(r.settle, { inFlight: 2, overlapFrom: 200 })
    const done = [0, 1, 2, 3, 4, 5].map((p) => rounds.submit(chunk(p, 200)))
    await turn()
    expect(r.rounds.map((x) => x.partitions)).toEqual([[0, 1, 2], [3, 4, 5]])
    expect(r.mostInFlight()).toBe(2)
    // the first round's partitions hand in their next chunks: a full batch's worth, so a round starts beside the second
    r.rounds[0]!.finish()
    await Promise.all(done.slice(0, 3))
    const next = [0, 1, 2].map((p) => rounds.submit(chunk(p, 100)))
    await turn()
    expect(r.rounds.map((x) => x.partitions)).toEqual([[0, 1, 2], [3, 4, 5], [0, 1, 2]])
    r.rounds[1]!.finish()
    r.rounds[2]!.finish()
    await Promise.all([...done, ...next])
  })

  it('lets a trickle wait for the round in flight, so it gathers into one round instead of many small ones', async () => {
    const r = recorder()
    const rounds = new Rounds(r.settle, { inFlight: 2, overlapFrom: 200 })
    const first = rounds.submit(chunk(0, 10))
    await turn()
    const trickle = [1, 2, 3].map((p) => rounds.submit(chunk(p, 20)))
    await turn()
    expect(r.rounds).toHaveLength(1)
    r.rounds[0]!.finish()
    await first
    await turn()
    expect(r.rounds.map((x) => x.partitions)).toEqual([[0], [1, 2, 3]])
    expect(r.mostInFlight()).toBe(1)
    r.rounds[1]!.finish()
    await Promise.all(trickle)
  })

  it('fails every chunk of a round that fails, and only those', async () => {
    const r = recorder()
    const rounds = new Rounds(r.settle, { inFlight: 2, overlapFrom: 200 })
    const outcomes = [0, 1, 2, 3].map((p) => rounds.submit(chunk(p, 200)).then(() => 'settled', (e: Error) => e.message))
    await turn()
    expect(r.rounds.map((x) => x.partitions)).toEqual([[0, 1], [2, 3]])
    r.rounds[0]!.finish(new Error('MySQL refused'))
    r.rounds[1]!.finish()
    expect(await Promise.all(outcomes)).toEqual(['MySQL refused', 'MySQL refused', 'settled', 'settled'])
  })

  it('is idle for a drain only once the rounds in flight and the chunks waiting are settled', async () => {
    const r = recorder()
    const rounds = new Rounds(r.settle, { inFlight: 2, overlapFrom: 200 })
    await rounds.idle()
    const done = [rounds.submit(chunk(0, 10))]
    await turn()
    done.push(rounds.submit(chunk(1, 10))) // a trickle: waits for the round in flight
    let idle = false
    const drained = rounds.idle().then(() => (idle = true))
    r.rounds[0]!.finish()
    await turn()
    expect(idle).toBe(false)
    expect(r.rounds.map((x) => x.partitions)).toEqual([[0], [1]])
    r.rounds[1]!.finish(new Error('MySQL refused'))
    await drained
    expect(await Promise.all(done.map((d) => d.then(() => 'settled', () => 'failed')))).toEqual(['settled', 'failed'])
  })
})
