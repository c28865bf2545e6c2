/**
 * NOT_ADMITTED from what the instance knows: once it has read a waiting shopper's place, and the room's
 * counters are fresh, a purchase by a shopper whose place the room cannot have reached yet is refused
 * without Redis — here while Redis is paused (SIGSTOP). A place the room could have reached still goes
 * to the gate script.
 */
import { readFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, expect, it } from 'vitest'
import { closeDb } from '../../server/db'
import { closePaymentPublisher } from '../../server/domain/orders/purchase'
import { queueFeed } from '../../server/domain/queue/service'
import { closeRedis } from '../../server/redis/client'
import { eventually } from '../support/data'
import { testStack } from '../faults/support'
import { as, bulkShoppers, createRoom, join, refusal } from './support'

process.env.QUEUE_POW_DIFFICULTY = '4'

afterAll(async () => {
  queueFeed().stop()
  await closePaymentPublisher()
  await closeRedis()
  await closeDb()
})

const stateOf = (pid: number) => readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[0]
const attempt = (shopper: { id: number, sub: string, email: string }, couponId: number) =>
  as(shopper).order.purchase({ couponId }).then(() => 'PENDING', (error: unknown) => refusal(error).reason)

it('refuses a shopper the room cannot have reached yet without Redis, and sends the others to the gate', async () => {
  // no payment worker runs here, so no admission ticker: nobody is admitted
  const shoppers = await bulkShoppers(6)
  const { couponId, opensAt } = await createRoom({ stock: 5, opensInMs: 1_500, room: { admitPerSecond: 1, admissionSeconds: 20 } })
  for (const s of shoppers) await join(s, couponId)
  await sleep(opensAt - Date.now() + 50)
  const places = await Promise.all(shoppers.map(async (s) => ({ s, position: (await as(s).queue.status({ couponId })).position! })))
  const first = places.find((p) => p.position === 1)!.s
  const last = places.find((p) => p.position === 6)!.s

  expect(await attempt(last, couponId)).toBe('NOT_ADMITTED') // from the gate script; the instance reads the place
  expect(await attempt(first, couponId)).toBe('NOT_ADMITTED')
  await eventually(async () => queueFeed().notAdmitted(couponId, last.id), 2_000, 10)
  expect(queueFeed().notAdmitted(couponId, first.id)).toBe(false) // within reach of one admission a second

  const redisPid = testStack().processes().redis!.pid
  process.kill(redisPid, 'SIGSTOP')
  try {
    expect(await eventually(async () => stateOf(redisPid) === 'T', 2_000, 10)).toBe(true)
    const started = performance.now()
    expect(await attempt(last, couponId)).toBe('NOT_ADMITTED')
    expect(performance.now() - started).toBeLessThan(200)
  } finally {
    process.kill(redisPid, 'SIGCONT')
  }
  await sleep(1_300) // counters older than a second: the instance no longer answers from them
  expect(queueFeed().notAdmitted(couponId, last.id)).toBe(false)
})
