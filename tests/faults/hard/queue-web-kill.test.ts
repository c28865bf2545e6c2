/**
 * A web instance SIGKILLed while shoppers wait in a coupon's waiting room, watching their place over
 * `queue.onStatus` (tRPC's wsLink through NGINX): the room lives in Redis and MySQL, not in an
 * instance, so the clients whose socket died reconnect to the other instance and see the same place,
 * then are admitted in turn and buy; the instance's death costs nobody their place.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { db } from '../../../server/db'
import { openStack } from '../../../scripts/lib/stack.mjs'
import { couponState, createCouponOnSale, eventually } from '../../support/data'
import { freePort } from '../../support/processes'
import { collect, liveClient, type Collected, type LiveClient } from '../../support/live'
import { trpc, type Shopper } from '../../support/shoppers'
import type { QueueStatus } from '../../../server/domain/queue/schemas'
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

    // every shopper watches their place over the WebSocket, through NGINX (either instance)
    const clients: LiveClient[] = shoppers.map((s) => liveClient(nginx.url, { token: s.token }))
    const watched: Collected<QueueStatus>[] = clients.map((c) => collect<QueueStatus>((h) => c.api.queue.onStatus.subscribe({ couponId }, h)))
    await Promise.all(watched.map((w) => w.started))
    await eventually(async () => watched.every((w) => w.items.length > 0), 5_000, 50)
    expect(watched.map((w) => w.items.at(-1)!.position)).toEqual(places)

    const killed = webs[0]!
    await killed.kill()
    expect(isAlive(killed.pid), 'the web instance survived its SIGKILL').toBe(false)
    // the clients whose socket died reconnect through NGINX to the other instance: same places
    const resumed = await eventually(async () => watched.every((w) => w.starts() >= 1) && clients.some((c) => c.closes.length > 0), 10_000, 100)
    expect(resumed, 'no client lost its socket with the instance').toBe(true)
    const reconnected = watched.filter((_, i) => clients[i]!.closes.length > 0)
    expect(await eventually(async () => reconnected.every((w) => w.starts() >= 2), 15_000, 100)).toBe(true)
    expect(watched.map((w) => w.items.at(-1)!.position)).toEqual(places)
    expect(await Promise.all(shoppers.map(async (s) => (await status(s, couponId)).position))).toEqual(places)

    // admitted one a second, in order of place; each buys
    for (const s of shoppers.slice(0, STOCK)) {
      expect(await eventually(async () => (await status(s, couponId)).state === 'ADMITTED', 15_000, 200)).toBe(true)
      const bought = await trpc(nginx.url, 'order.purchase', { token: s.token, mutation: true, input: { couponId } })
      expect(bought.status, JSON.stringify(bought.error)).toBe(200)
    }
    expect(await eventually(async () => (await couponState(couponId)).paid === STOCK, 30_000, 250)).toBe(true)
    // and the rest are told over their subscription
    expect(await eventually(async () => watched.slice(STOCK).every((w) => w.items.at(-1)?.state === 'SOLD_OUT'), 5_000, 100)).toBe(true)
    for (const c of clients) await c.close()
  }, 120_000)
})
