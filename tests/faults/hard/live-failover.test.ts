/**
 * The web instance holding a shopper's `order.onUpdate` subscription is SIGKILLed between the purchase
 * and its settlement (the worker's `worker.before-settle` failpoint holds every batch for a while):
 * the client (tRPC's own wsLink, through NGINX) reconnects to the other instance and receives the
 * PAID update exactly once — live when it is back before the settlement (the new instance's presence
 * record), from MySQL when it comes back after it (the missed update is replayed).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { db } from '../../../server/db'
import type { OrderUpdate } from '../../../server/domain/orders/updates'
import { redis } from '../../../server/redis/client'
import { keys } from '../../../server/redis/keys'
import { openStack } from '../../../scripts/lib/stack.mjs'
import { createCouponOnSale, eventually } from '../../support/data'
import { collect, liveClient, type Collected } from '../../support/live'
import { freePort } from '../../support/processes'
import type { Shopper } from '../../support/shoppers'
import type { StackProc } from '../support'
import { closeConnections, failpointDir, fired, newSale, recoversFully, reporting, sharedShoppers, stack, within } from './support'
import { procedureUrl } from '../../support/api'

type Web = StackProc & { url: string, port: number }
type Tracked = { id: string, data: OrderUpdate }

const HOLD_MS = 2_500
const dir = failpointDir()
let shoppers: Shopper[]
let webs: Web[]
let worker: StackProc
let nginx: { url: string, stop: () => Promise<void> }
let generation = 0

const serverIds = new Map<Web, string>()

async function startWeb(port?: number): Promise<Web> {
  const serverId = `live-${++generation}`
  const web = await stack.startWeb({ ...(port ? { port } : {}), env: { SERVER_ID: serverId, PURCHASE_RATE_LIMIT: '100' } })
  serverIds.set(web, serverId)
  return web
}

beforeAll(async () => {
  ;[shoppers, webs, worker] = await Promise.all([
    sharedShoppers(40),
    Promise.all([startWeb(), startWeb()]),
    stack.startWorker({ env: { FLASH_SALE_FAILPOINTS: `worker.before-settle=pause:${HOLD_MS}`, FLASH_SALE_FAILPOINT_DIR: dir } }),
  ])
  nginx = await openStack().startNginx({ name: 'nginx-live', port: await freePort(), upstreams: webs.map((w) => w.port) })
}, 240_000)

afterAll(async () => {
  await nginx?.stop()
  await Promise.all([...(webs ?? []).map((w) => w.stop().catch(() => {})), worker?.stop().catch(() => {})])
  await closeConnections()
})

async function userIdOf(shopper: Shopper): Promise<number> {
  const row = await db().selectFrom('users').select('id').where('sub', '=', shopper.id).executeTakeFirst()
  if (row) return Number(row.id)
  const res = await fetch(procedureUrl(nginx.url, 'user.me'), { headers: { authorization: `Bearer ${shopper.token}` } })
  return (await res.json()).result.data.id
}

/** The instance whose presence record holds the user's subscription (exactly one). */
async function holder(userId: number): Promise<Web> {
  const servers = await eventually(async () => {
    const ids = await redis().zrangebyscore(keys.presence(userId), Date.now() - 5_000, '+inf')
    const alive = webs.filter((w) => ids.includes(serverIds.get(w)!))
    return alive.length === 1 ? alive : undefined
  }, 10_000, 50)
  return servers![0]!
}

async function purchase(shopper: Shopper, couponId: number): Promise<string> {
  const res = await fetch(procedureUrl(nginx.url, 'order.purchase'), {
    method: 'POST',
    headers: { authorization: `Bearer ${shopper.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ couponId }),
  })
  const body = await res.json()
  expect(res.status, JSON.stringify(body)).toBe(200)
  return body.result.data.orderId
}

const times = (updates: Collected<Tracked>, orderId: string) => updates.items.filter((u) => u.data.orderId === orderId).length

/**
 * One shopper through the fault: subscribed through NGINX, buys, the holding instance is SIGKILLed
 * while the settlement is held, a new instance takes the dead one's port. Returns the order id.
 */
async function throughTheKill(shopper: Shopper, couponId: number, sentinelCoupon: number, path: 'live' | 'replayed', happened: string[]) {
  // back at once (before the settlement), or only after it
  const retryDelayMs = path === 'live' ? () => 50 : (attempt: number) => (attempt === 0 ? HOLD_MS * 2 : 200)
  const userId = await userIdOf(shopper)
  const client = liveClient(nginx.url, { token: shopper.token, retryDelayMs })
  const updates = collect<Tracked>((h) => client.api.order.onUpdate.subscribe(undefined, h))
  await updates.started
  const doomed = await holder(userId)
  const firedBefore = fired(dir, 'worker.before-settle')

  const orderId = await purchase(shopper, couponId)
  await eventually(async () => fired(dir, 'worker.before-settle') > firedBefore || undefined, 10_000, 20)
  const settled = await db().selectFrom('orders').select('id').where('id', '=', orderId).executeTakeFirst()
  expect(settled, 'the kill must come before the settlement').toBeUndefined()
  await doomed.kill()
  expect(await within(doomed.exited, 10_000, 'the web instance did not die')).toBe('SIGKILL')
  webs = webs.filter((w) => w !== doomed)
  happened.push(`web ${serverIds.get(doomed)} SIGKILLed with order ${orderId} unsettled`)
  webs.push(await startWeb(doomed.port))

  // back on a living instance (through NGINX), then the result, once
  await eventually(async () => updates.starts() >= 2 || undefined, 30_000, 20)
  const paid = (await eventually(async () => updates.items.find((u) => u.data.orderId === orderId), 30_000, 20))!
  expect(paid.data).toMatchObject({ orderId, couponId, status: 'PAID' })
  // which way it came: settled after the client was back (pushed live), or before (read from MySQL)
  const { updated_at: settledAt } = await db().selectFrom('orders').select('updated_at').where('id', '=', orderId).executeTakeFirstOrThrow()
  const back = updates.startedAt[1]!
  expect(path === 'live' ? new Date(settledAt).getTime() > back : new Date(settledAt).getTime() < back).toBe(true)
  expect(client.closes.length).toBeGreaterThanOrEqual(1)
  // exactly once: a later update arrives, and the first one still came once
  const sentinel = await purchase(shopper, sentinelCoupon)
  await eventually(async () => times(updates, sentinel) > 0 || undefined, 30_000, 20)
  expect({ paid: times(updates, orderId), sentinel: times(updates, sentinel), error: updates.error() }).toEqual({
    paid: 1,
    sentinel: 1,
    error: undefined,
  })
  updates.stop()
  await client.close()
  return orderId
}

describe('a web instance SIGKILLed while it holds a shopper\'s subscription', () => {
  it('is survived: the client reconnects through NGINX and gets PAID exactly once, live or replayed', async () => {
    const couponId = await createCouponOnSale({ stock: 20, price: 10 })
    const sentinels = await Promise.all([createCouponOnSale({ stock: 5, price: 10 }), createCouponOnSale({ stock: 5, price: 10 })])
    const sale = newSale('web holding a subscription SIGKILLed between purchase and settlement', couponId, shoppers, () => [nginx.url])
    await reporting(sale, async () => {
      const happened: string[] = []
      // back before the settlement: the update comes live to the new instance
      const live = await throughTheKill(shoppers[0]!, couponId, sentinels[0]!, 'live', happened)
      // back only after it: nobody held the subscription when it was published; MySQL has it
      const replayed = await throughTheKill(shoppers[1]!, couponId, sentinels[1]!, 'replayed', happened)
      sale.row.happened = happened.join('; ')
      sale.attempts.push(
        { sub: shoppers[0]!.id, couponId, answer: 'PENDING', status: 200, orderId: live },
        { sub: shoppers[1]!.id, couponId, answer: 'PENDING', status: 200, orderId: replayed },
      )
      // the rest of the sale, without the held settlements
      await worker.stop()
      worker = await stack.startWorker({})
      await recoversFully(sale, Date.now())
    })
  }, 240_000)
})
