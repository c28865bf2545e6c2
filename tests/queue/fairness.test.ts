/**
 * The waiting room's order (docs/architecture.md, "The waiting room"), through the real procedures:
 * shoppers who join before the opening get a random order at the opening, those who join after queue
 * first come, first served behind them, and joining twice keeps one's place.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { setTimeout as sleep } from 'node:timers/promises'
import { closeDb } from '../../server/db'
import { closeRedis, redis } from '../../server/redis/client'
import { keys } from '../../server/redis/keys'
import { as, bulkShoppers, createRoom, join, spearman } from './support'

process.env.QUEUE_POW_DIFFICULTY = '4' // the proof of work is the browser's cost, not this test's

const EARLY = 2_000
const LATE = 25

afterAll(async () => {
  await closeRedis()
  await closeDb()
})

describe('the waiting room\'s order', () => {
  it('draws a random order at the opening for 2,000 early shoppers, then serves later ones first come, first served', async () => {
    const shoppers = await bulkShoppers(EARLY + LATE)
    const early = shoppers.slice(0, EARLY)
    const late = shoppers.slice(EARLY)
    const { couponId, opensAt } = await createRoom({ stock: 10, opensInMs: 12_000 })

    // before the opening, in a known order (eight at a time, in list order): no place yet
    let next = 0
    const started = Date.now()
    await Promise.all(Array.from({ length: 8 }, async () => {
      while (next < early.length) expect(await join(early[next++]!, couponId)).toEqual({ state: 'WAITING' })
    }))
    console.info(`${EARLY} joins before the opening in ${Date.now() - started} ms`)
    expect(Date.now(), 'the early joins took longer than the time before the opening').toBeLessThan(opensAt)
    expect(await join(early[0]!, couponId)).toEqual({ state: 'WAITING' }) // twice: still one place
    expect(await redis().zcard(keys.queueLine(couponId))).toBe(EARLY)

    await sleep(opensAt - Date.now() + 50)
    const positions = await Promise.all(early.map(async (s) => (await as(s).queue.status({ couponId })).position!))
    expect([...positions].sort((a, b) => a - b)).toEqual(Array.from({ length: EARLY }, (_, i) => i + 1))
    const rho = spearman(early.map((_, i) => i + 1), positions)
    console.info(`Spearman ρ between join order and place: ${rho.toFixed(4)}`)
    expect(Math.abs(rho)).toBeLessThan(0.1)

    // after the opening: behind everyone who came early, in the order of joining, the place in join's answer
    const latePlaces: number[] = []
    for (const s of late) latePlaces.push((await join(s, couponId)).position!)
    expect(latePlaces).toEqual(Array.from({ length: LATE }, (_, i) => EARLY + i + 1))

    // joining again, or asking again (another tab, a reload), shows the same place
    expect((await join(early[7]!, couponId)).position).toBe(positions[7])
    expect((await join(late[3]!, couponId)).position).toBe(EARLY + 4)
    expect((await as(late[3]!).queue.status({ couponId })).position).toBe(EARLY + 4)
    expect(await redis().zcard(keys.queueLine(couponId))).toBe(EARLY + LATE)
  }, 120_000)
})
