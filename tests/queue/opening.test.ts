/**
 * The opening second behind a waiting room: 2,000 queued shoppers all keep trying to buy a 100-unit
 * coupon. The admission ticker (a real payment worker) admits at the room's rate and never more than
 * the free units, so the reserve script runs about once per unit, and every other attempt is refused
 * NOT_ADMITTED (or SOLD_OUT once nothing can come back), never a 5xx.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { closeDb, db } from '../../server/db'
import { auditInvariants } from '../../server/domain/audit/service'
import { closePaymentPublisher } from '../../server/domain/orders/purchase'
import { queueFeed } from '../../server/domain/queue/service'
import { closeRedis, redis } from '../../server/redis/client'
import { keys } from '../../server/redis/keys'
import { couponState, eventually } from '../support/data'
import { startWorker, type Proc } from '../support/processes'
import { as, bulkShoppers, createRoom, join, keepTrying, type TestShopper } from './support'

process.env.QUEUE_POW_DIFFICULTY = '4'

const SHOPPERS = 2_000
const STOCK = 100
const RATE = 40

let worker: Proc
beforeAll(async () => { worker = await startWorker() }, 60_000)
afterAll(async () => {
  queueFeed().stop()
  await worker?.stop()
  await closePaymentPublisher()
  await closeRedis()
  await closeDb()
})

/**
 * How often the reserve script has run (on its own or inside the purchase script): it sends one MGET
 * each time (stock, marker, repair lease), and nothing else in the app sends MGET.
 */
async function reserveRuns(): Promise<number> {
  const stats = await redis().info('commandstats')
  return Number(/cmdstat_mget:calls=(\d+)/.exec(stats)?.[1] ?? 0)
}

async function joinAll(shoppers: TestShopper[], couponId: number) {
  let next = 0
  await Promise.all(Array.from({ length: 8 }, async () => {
    while (next < shoppers.length) await join(shoppers[next++]!, couponId)
  }))
}

describe('the opening of a sale behind a waiting room', () => {
  it('lets 2,000 queued shoppers storm a 100-unit coupon with the reserve script run at most 120 times, and no 5xx', async () => {
    const shoppers = await bulkShoppers(SHOPPERS)
    const { couponId, opensAt } = await createRoom({
      stock: STOCK,
      opensInMs: 12_000,
      room: { admitPerSecond: RATE, admissionSeconds: 20 },
    })
    await joinAll(shoppers, couponId)
    expect(Date.now()).toBeLessThan(opensAt)

    // some shoppers watch their status as the app's subscription does
    const watched = shoppers.slice(0, 40)
    const soldOutAt = new Map<number, number>()
    await Promise.all(watched.map((s) => queueFeed().watch(couponId, s.id, (status) => {
      if (status.state === 'SOLD_OUT') soldOutAt.set(s.id, Date.now())
      else soldOutAt.delete(s.id)
    })))
    let stockGoneAt = 0
    const stockWatch = setInterval(() => {
      redis().get(keys.stock(couponId)).then((v) => {
        if (Number(v) > 0) stockGoneAt = 0
        else stockGoneAt ||= Date.now()
      }, () => {})
    }, 20)

    const before = await reserveRuns()
    await sleep(opensAt - Date.now())
    const answers: string[] = []
    const outcomes = await Promise.all(shoppers.map((s) => keepTrying(s, couponId, answers)))
    clearInterval(stockWatch)
    const reserves = await reserveRuns() - before

    const tally = (list: string[]) => list.reduce<Record<string, number>>((t, a) => ({ ...t, [a]: (t[a] ?? 0) + 1 }), {})
    console.info(`${answers.length} attempts: ${JSON.stringify(tally(answers))}; outcomes ${JSON.stringify(tally(outcomes))}; reserve script ran ${reserves} times`)
    expect(answers.filter((a) => a !== 'PENDING' && a !== 'NOT_ADMITTED' && a !== 'SOLD_OUT')).toEqual([])
    expect(reserves).toBeGreaterThanOrEqual(STOCK) // the counter sees the script's commands
    expect(reserves).toBeLessThanOrEqual(STOCK * 1.2)

    // exactly the stock sold, each buyer admitted first (audit check 6), never faster than the room's rate
    const state = await eventually(async () => {
      const s = await couponState(couponId)
      return s.paid === STOCK && s.pending === 0 ? s : undefined
    }, 30_000, 250)
    expect(state).toMatchObject({ paid: STOCK, mysqlStock: 0, redisStock: 0 })
    const check = (await auditInvariants(db(), redis(), { trafficStopped: false })).find((c) => c.name.startsWith('6.'))!
    expect(check.ok, check.detail).toBe(true)
    const perSecond = await sql<{ n: number }>`SELECT COUNT(*) AS n FROM queue_entries WHERE coupon_id = ${couponId} AND admitted_at IS NOT NULL GROUP BY FLOOR(UNIX_TIMESTAMP(admitted_at))`.execute(db())
    expect(Math.max(...perSecond.rows.map((r) => Number(r.n)))).toBeLessThanOrEqual(RATE)

    // everyone still waiting was told SOLD_OUT within a second of the last unit going
    expect(stockGoneAt).toBeGreaterThan(0)
    await sleep(1_000)
    const late = watched.filter((s) => !soldOutAt.has(s.id) || soldOutAt.get(s.id)! - stockGoneAt > 1_000)
    expect(late.map((s) => s.id)).toEqual([])
  }, 150_000)

  it('resumes admission when a failed payment returns the unit', async () => {
    const [broke] = await bulkShoppers(1, 0)
    const [next] = await bulkShoppers(1)
    const { couponId, opensAt } = await createRoom({ stock: 1, opensInMs: 1_500, room: { admitPerSecond: 5, admissionSeconds: 20 } })
    await sleep(opensAt - Date.now() + 10)
    expect((await join(broke!, couponId)).position).toBe(1)
    expect((await join(next!, couponId)).position).toBe(2)
    await eventually(async () => (await as(broke!).queue.status({ couponId })).state === 'ADMITTED', 10_000, 100)
    await as(broke!).order.purchase({ couponId }) // reserved; the payment fails for want of credit
    expect(await keepTrying(next!, couponId, [])).toBe('PENDING')
    expect((await as(next!).queue.status({ couponId })).state).toBe('SOLD_OUT')
    expect(await eventually(async () => (await couponState(couponId)).paid, 15_000, 200)).toBe(1)
  }, 60_000)
})
