/**
 * The waiting room through a power cut of Redis: SIGKILL mid-sale and cut the tail of its AOF, so it
 * comes back having forgotten its last joins, admissions and reservations. Every place is put back
 * where it was from its MySQL record (never at the back), nobody is stuck, nobody buys without an
 * admission, nothing is oversold, and no answer is a 5xx.
 */
import { statSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { db } from '../../../server/db'
import { queueFeed } from '../../../server/domain/queue/service'
import { redis } from '../../../server/redis/client'
import { keys } from '../../../server/redis/keys'
import { loseAofTail, newestIncrAof } from '../../../scripts/lib/crash.mjs'
import { couponState, eventually } from '../../support/data'
import { as, bulkShoppers, createRoom, join, refusal, type TestShopper } from '../../queue/support'
import { isAlive, redisRunId, sleep } from '../support'
import { auditPassesBy, closeConnections, ensureRunning, stack, type SaleProcesses, startSaleProcesses } from './support'

process.env.QUEUE_POW_DIFFICULTY = '4'

const EARLY = 200
const LATE = 120
const STOCK = 40

let procs: SaleProcesses
beforeAll(async () => { procs = await startSaleProcesses({ webs: 0, workers: 2 }) }, 120_000)
afterAll(async () => {
  queueFeed().stop()
  await ensureRunning('redis')
  await procs?.stop()
  await closeConnections()
})

/** Buys until taken or sold out; busy answers (the outage) and NOT_ADMITTED are tried again a moment later. */
async function keepTrying(s: TestShopper, couponId: number, answers: string[], deadline: number): Promise<string> {
  while (Date.now() < deadline) {
    try {
      await as(s).order.purchase({ couponId })
      answers.push('PENDING')
      return 'PENDING'
    } catch (error) {
      const { reason, httpStatus } = refusal(error)
      answers.push(httpStatus >= 500 && reason !== 'TRY_AGAIN_LATER' ? `${httpStatus} ${reason}` : reason)
      if (reason !== 'NOT_ADMITTED' && reason !== 'TRY_AGAIN_LATER') return reason
      await sleep(500 + Math.random() * 500)
    }
  }
  return 'STUCK'
}

/** flash_queue_restored_total of one coupon on a worker's /metrics. */
async function restoredPlaces(port: number, couponId: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
  return Number(new RegExp(`^flash_queue_restored_total\\{coupon="${couponId}"\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0)
}

/** Joins until the room answers (through the outage a join may be refused TRY_AGAIN_LATER). */
async function joinUntilAnswered(s: TestShopper, couponId: number): Promise<number | undefined> {
  for (;;) {
    try {
      return (await join(s, couponId)).position
    } catch (error) {
      if (refusal(error).reason !== 'TRY_AGAIN_LATER') throw error
      await sleep(200)
    }
  }
}

describe('the waiting room after Redis loses the tail of its AOF', () => {
  it('puts every lost place back where it was, lets nobody buy without an admission, and sells exactly the stock', async () => {
    const shoppers = await bulkShoppers(EARLY + LATE)
    const early = shoppers.slice(0, EARLY)
    const late = shoppers.slice(EARLY)
    const { couponId, opensAt } = await createRoom({ stock: STOCK, opensInMs: 6_000, room: { admitPerSecond: 8, admissionSeconds: 30 } })
    await Promise.all(early.map((s) => join(s, couponId)))
    await sleep(opensAt - Date.now() + 20)
    const earlyPlaces = await Promise.all(early.map(async (s) => (await as(s).queue.status({ couponId })).position))

    // the sale runs: everyone buys when admitted, while late shoppers keep joining at the back
    const deadline = Date.now() + 120_000
    const answers: string[] = []
    const buying = Promise.all(shoppers.map((s) => keepTrying(s, couponId, answers, deadline)))
    const aofAtStart = statSync(newestIncrAof(stack.redisDir)).size
    const latePlaces = new Map<number, number | undefined>()
    const joining = (async () => {
      for (const s of late) {
        latePlaces.set(s.id, await joinUntilAnswered(s, couponId))
        await sleep(25)
      }
    })()
    await eventually(async () => latePlaces.size >= LATE / 2 && Number(await redis().get(keys.queueAdmitted(couponId))) >= 10, 30_000, 50)

    const runIdBefore = await redisRunId()
    const placesBefore = await redis().zcard(keys.queueLine(couponId))
    const pidBefore = stack.processes().redis!.pid
    const answeredBefore = new Map(latePlaces)
    await stack.killService('redis')
    expect(isAlive(pidBefore), 'Redis survived its SIGKILL').toBe(false)
    const cut = await loseAofTail(stack.redisDir, { from: aofAtStart, fraction: 0.5 })
    await stack.startService('redis')
    const recoveredAt = Date.now()
    expect(await redisRunId()).not.toBe(runIdBefore)
    expect(cut.cut).toBeGreaterThan(0)

    await joining
    // the fault happened: the workers' ticker found places missing from the line and put them back
    const restored = await eventually(async () => (await Promise.all(procs.workers.map((w) => restoredPlaces((w as { metricsPort?: number }).metricsPort!, couponId)))).reduce((a, b) => a + b, 0), 20_000, 250)
    console.info(`AOF cut by ${cut.cut} of ${cut.appended} bytes; ${placesBefore} places before the kill, ${restored} put back from their records`)
    expect(restored, 'Redis lost none of the places it had').toBeGreaterThan(0)
    // every place is back: as many as the records, each at the place its shopper was told
    const records = Number((await db().selectFrom('queue_entries').select((eb) => eb.fn.countAll<number>().as('n')).where('coupon_id', '=', couponId).executeTakeFirstOrThrow()).n)
    expect(await eventually(async () => (await redis().zcard(keys.queueLine(couponId))) === records, 20_000, 200)).toBe(true)
    expect(records).toBe(EARLY + LATE)
    const earlyAfter = await Promise.all(early.map(async (s) => (await as(s).queue.status({ couponId })).position))
    const movedEarly = early.filter((_, i) => earlyAfter[i] !== undefined && earlyAfter[i] !== earlyPlaces[i])
    expect(movedEarly.length, 'places fixed at the opening moved').toBe(0)
    const lateTold = late.filter((s) => answeredBefore.get(s.id) !== undefined)
    const lateAfter = await Promise.all(lateTold.map(async (s) => (await as(s).queue.status({ couponId })).position))
    expect(lateTold.filter((s, i) => lateAfter[i] !== undefined && lateAfter[i] !== answeredBefore.get(s.id)).map((s) => s.id)).toEqual([])

    // nobody stuck: every shopper either bought or was told SOLD_OUT; the stock sold exactly
    const outcomes = await buying
    const tally = (list: string[]) => list.reduce<Record<string, number>>((t, a) => ({ ...t, [a]: (t[a] ?? 0) + 1 }), {})
    console.info(`outcomes ${JSON.stringify(tally(outcomes))}; answers ${JSON.stringify(tally(answers))}`)
    expect(outcomes.filter((o) => o !== 'PENDING' && o !== 'SOLD_OUT')).toEqual([])
    expect(answers.filter((a) => /^5\d\d/.test(a))).toEqual([])
    const state = await eventually(async () => {
      const s = await couponState(couponId)
      return s.pending === 0 && s.paid === STOCK ? s : undefined
    }, 60_000, 500)
    expect(state).toMatchObject({ paid: STOCK, mysqlStock: 0, redisStock: 0 })

    // the audit (every invariant, "no paid order without an admission" among them) passes
    const audit = await auditPassesBy(recoveredAt, recoveredAt + 60_000)
    expect(audit.ok, audit.output).toBe(true)
  }, 240_000)
})
