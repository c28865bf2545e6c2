/**
 * A web instance SIGKILLed while shoppers wait in a coupon's waiting room: the room lives in Redis
 * and MySQL, not in an instance, so through NGINX every shopper finds the same place on the other
 * instance, is admitted in turn and buys; the instance's death costs nobody their place.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { db } from '../../../server/db'
import { openStack } from '../../../scripts/lib/stack.mjs'
import { couponState, createCouponOnSale, eventually } from '../../support/data'
import { freePort } from '../../support/processes'
import { trpc, type Shopper } from '../../support/shoppers'
import { solveChallenge } from '../../../server/domain/queue/challenge'
import { isAlive, type StackProc } from '../support'
import { closeConnections, sharedShoppers, stack } from './support'

type Web = StackProc & { url: string, port: number }
const SHOPPERS = 6
const STOCK = 4
let shoppers: Shopper[]
let webs: Web[]
let worker: StackProc
let nginx: { url: string, stop: () => Promise<void> }

beforeAll(async () => {
  const env = { QUEUE_POW_DIFFICULTY: '4', PURCHASE_RATE_LIMIT: '100' }
  ;[shoppers, webs, worker] = await Promise.all([
    sharedShoppers(SHOPPERS),
    Promise.all([stack.startWeb({ env }), stack.startWeb({ env })]),
    stack.startWorker({}),
  ])
  nginx = await openStack().startNginx({ name: 'nginx-queue-kill', port: await freePort(), upstreams: webs.map((w) => w.port) })
}, 240_000)

afterAll(async () => {
  await nginx?.stop()
  await Promise.all([...(webs ?? []).map((w) => w.stop().catch(() => {})), worker?.stop().catch(() => {})])
  await closeConnections()
})

const status = async (s: Shopper, couponId: number) => (await trpc<{ state: string, position?: number }>(nginx.url, 'queue.status', { token: s.token, input: { couponId } })).data!

describe('the waiting room when a web instance dies', () => {
  it('keeps every shopper\'s place on the other instance, and admits them in turn to buy', async () => {
    const couponId = await createCouponOnSale({ stock: STOCK, price: 10 })
    await db().updateTable('coupons').set({ waiting_room_enabled: true, waiting_room_admit_per_second: 1, waiting_room_admission_seconds: 60, waiting_room_enabled_at: new Date() }).where('id', '=', couponId).execute()
    // the sale is open: places are first come, first served, given in join's answer
    const places: number[] = []
    for (const s of shoppers) {
      const { data: challenge } = await trpc<{ challenge: string, difficulty: number }>(webs[0]!.url, 'queue.challenge', { token: s.token, mutation: true, input: { couponId } })
      const joined = await trpc<{ position: number }>(webs[0]!.url, 'queue.join', { token: s.token, mutation: true, input: { couponId, challenge: challenge!.challenge, nonce: solveChallenge(challenge!) } })
      places.push(joined.data!.position)
    }
    expect(places).toEqual(places.map((_, i) => places[0]! + i))

    const killed = webs[0]!
    await killed.kill()
    expect(isAlive(killed.pid), 'the web instance survived its SIGKILL').toBe(false)
    // through NGINX (now the other instance only), each shopper finds their place
    expect(await Promise.all(shoppers.map(async (s) => (await status(s, couponId)).position))).toEqual(places)

    // admitted one a second, in order of place; each buys
    for (const s of shoppers.slice(0, STOCK)) {
      expect(await eventually(async () => (await status(s, couponId)).state === 'ADMITTED', 15_000, 200)).toBe(true)
      const bought = await trpc(nginx.url, 'order.purchase', { token: s.token, mutation: true, input: { couponId } })
      expect(bought.status, JSON.stringify(bought.error)).toBe(200)
    }
    expect(await eventually(async () => (await couponState(couponId)).paid === STOCK, 30_000, 250)).toBe(true)
    expect(await eventually(async () => (await status(shoppers[STOCK]!, couponId)).state === 'SOLD_OUT', 5_000, 100)).toBe(true)
  }, 120_000)
})
