/**
 * /ws on a web instance: frames of a few KB at most, a cap on one shopper's sockets and on how fast
 * they open them (for a token in connectionParams, which NGINX cannot see), caps on subscriptions per
 * socket and per instance, no token in a URL, and every refusal in the one error body. (NGINX's
 * connection rates: tests/security/edge.test.ts; sockets closed when the session or token ends:
 * sessions.test.ts and identity-provider.test.ts.)
 */
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, expect, it } from 'vitest'
import WebSocket from 'ws'
import { closeDb } from '../../server/db'
import { closeRedis } from '../../server/redis/client'
import { refusalBody } from '../../server/trpc/errors'
import { createCouponOnSale } from '../support/data'
import { collect, liveClient, type LiveClient } from '../support/live'
import { startWeb, type Proc } from '../support/processes'
import { createShoppers, type Shopper } from '../support/shoppers'
import { procedureUrl, subscribeMessage, type InputOf, type SubscriptionPath } from '../support/api'
import { wsUpgrade } from '../auth/ws'

let web: Proc
let shoppers: Shopper[]
let couponId: number
const sockets: WebSocket[] = []
const clients: LiveClient[] = []

// Low caps, so each is reached with a few sockets: 12 subscriptions on the instance, 10 per socket.
const WS_CONNECT_RATE_LIMIT = 8
beforeAll(async () => {
  const [started, made, coupon] = await Promise.all([
    startWeb({ WS_MAX_SUBSCRIPTIONS: '12', WS_CONNECT_RATE_LIMIT: String(WS_CONNECT_RATE_LIMIT) }),
    createShoppers(4),
    createCouponOnSale({ stock: 10, price: 100 }),
  ])
  ;[web, shoppers, couponId] = [started, made, coupon]
}, 120_000)

afterAll(async () => {
  for (const s of sockets) s.terminate()
  await Promise.all(clients.map((c) => c.close()))
  await web?.stop()
  await closeRedis()
  await closeDb()
})

type Message = {
  id: number | string | null
  result?: { type: string, data?: unknown }
  error?: { message: string, code: number, data: Record<string, unknown> }
}

/** A raw socket speaking tRPC's protocol, keeping every message and its close code. */
async function rawSocket(token?: string): Promise<{ ws: WebSocket, messages: Message[], closed: Promise<number> }> {
  const ws = new WebSocket(`${web.url.replace('http', 'ws')}/ws${token ? '?connectionParams=1' : ''}`)
  sockets.push(ws)
  const messages: Message[] = []
  ws.on('message', (raw) => messages.push(JSON.parse(String(raw))))
  const closed = new Promise<number>((resolve) => ws.once('close', resolve))
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject) })
  if (token) ws.send(JSON.stringify({ method: 'connectionParams', data: { token } }))
  return { ws, messages, closed }
}

function subscribe<P extends SubscriptionPath>(ws: WebSocket, id: number, path: P, input: InputOf<P>) {
  ws.send(subscribeMessage(id, path, input))
}

async function until<T>(check: () => T | undefined, ms = 5_000): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    const value = check()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error('timed out')
    await new Promise((r) => setTimeout(r, 20))
  }
}

/** The status and JSON body of a refused upgrade. */
async function refusedUpgrade(query: string, headers: Record<string, string> = {}): Promise<{ status: number, body?: unknown }> {
  const answer = await wsUpgrade(web.url, query, headers)
  if (answer.status === 101) throw new Error('the upgrade was accepted')
  return answer
}

it('closes a socket that sends a frame larger than a few KB (1009), and keeps one that sends small ones', async () => {
  const small = await rawSocket()
  subscribe(small.ws, 1, 'coupon.onStock', { couponIds: [couponId] })
  const big = await rawSocket()
  big.ws.send(randomBytes(64 * 1024))
  expect(await big.closed).toBe(1009)
  const started = await until(() => small.messages.find((m) => m.id === 1 && m.result?.type === 'started'))
  expect(started).toBeDefined()
  expect(small.ws.readyState).toBe(WebSocket.OPEN)
  small.ws.close()
  await small.closed
})

it('refuses a token in the URL, with the one error body, so none reaches a log', async () => {
  expect(await refusedUpgrade(`?access_token=${shoppers[0]!.token}`)).toEqual({ status: 400, body: refusalBody('INVALID_INPUT', 'Send the token in connectionParams, never in the URL') })
})

it('refuses a forged token in connectionParams with UNAUTHORIZED in the one error body, and closes the socket', async () => {
  const { messages, closed } = await rawSocket('forged')
  await closed
  expect(messages).toHaveLength(1)
  expect(messages[0]).toMatchObject({
    id: null,
    error: { code: -32001, data: { code: 'UNAUTHORIZED', httpStatus: 401, reason: 'UNAUTHORIZED' } },
  })
})

it('caps one shopper\'s sockets at 5 and refuses the next with RATE_LIMITED in the one error body', async () => {
  const token = shoppers[1]!.token
  const five = await Promise.all(Array.from({ length: 5 }, () => rawSocket(token)))
  for (const s of five) subscribe(s.ws, 1, 'order.onUpdate', undefined)
  await until(() => five.every((s) => s.messages.some((m) => m.result?.type === 'started')) || undefined)
  const sixth = await rawSocket(token)
  await sixth.closed
  expect(sixth.messages).toEqual([{ id: null, ...refusalBody('RATE_LIMITED', 'At most 5 sockets per user') }])
  // a socket closed frees its place
  five[0]!.ws.close()
  await five[0]!.closed
  await new Promise((r) => setTimeout(r, 100))
  const again = await rawSocket(token)
  subscribe(again.ws, 1, 'order.onUpdate', undefined)
  expect(await until(() => again.messages.find((m) => m.result?.type === 'started'))).toBeDefined()
  for (const s of [...five, again]) s.ws.close()
})

it(`limits how fast one shopper opens sockets to ${WS_CONNECT_RATE_LIMIT} per 10 s, across their connections`, async () => {
  const token = shoppers[2]!.token
  const answers: string[] = []
  for (let i = 0; i < WS_CONNECT_RATE_LIMIT + 2; i++) {
    const s = await rawSocket(token)
    subscribe(s.ws, 1, 'order.onUpdate', undefined)
    const first = await until(() => s.messages[0])
    answers.push(first.error ? String(first.error.data.reason) : String(first.result?.type))
    s.ws.close()
    await s.closed
  }
  expect(answers).toEqual([...Array(WS_CONNECT_RATE_LIMIT).fill('started'), 'RATE_LIMITED', 'RATE_LIMITED'])
})

it('lets anonymous sockets watch stock but not anyone\'s orders', async () => {
  const anonymous = liveClient(web.url)
  clients.push(anonymous)
  const stock = collect<{ couponId: number, stock: number, soldOut: boolean }>((h) =>
    anonymous.api.coupon.onStock.subscribe({ couponIds: [couponId] }, h),
  )
  await stock.started
  expect(await until(() => stock.items[0])).toEqual({ couponId, stock: 10, soldOut: false })
  const orders = collect((h) => anonymous.api.order.onUpdate.subscribe(undefined, h))
  await expect(orders.started).rejects.toMatchObject({ data: { code: 'UNAUTHORIZED', reason: 'UNAUTHORIZED' } })
  stock.stop()
  await anonymous.close()
})

it('validates the input: 1..50 coupons that exist, an event id as lastEventId', async () => {
  const client = liveClient(web.url)
  clients.push(client)
  const tooMany = collect((h) => client.api.coupon.onStock.subscribe({ couponIds: Array.from({ length: 51 }, (_, i) => i + 1) }, h))
  await expect(tooMany.started).rejects.toMatchObject({ data: { reason: 'INVALID_INPUT' } })
  const none = collect((h) => client.api.coupon.onStock.subscribe({ couponIds: [] }, h))
  await expect(none.started).rejects.toMatchObject({ data: { reason: 'INVALID_INPUT' } })
  const unknown = collect((h) => client.api.coupon.onStock.subscribe({ couponIds: [couponId, 2_000_000_000] }, h))
  await expect(unknown.started).rejects.toMatchObject({ message: 'No such coupon: 2000000000', data: { reason: 'NOT_FOUND' } })
  const shopper = liveClient(web.url, { token: shoppers[3]!.token })
  clients.push(shopper)
  const badCursor = collect((h) => shopper.api.order.onUpdate.subscribe({ lastEventId: 'yesterday' }, h))
  await expect(badCursor.started).rejects.toMatchObject({ data: { reason: 'INVALID_INPUT' } })
  await Promise.all([client.close(), shopper.close()])
})

it('caps subscriptions per socket (RATE_LIMITED) and per instance (TRY_AGAIN_LATER, another instance may have room)', async () => {
  // the sockets of the tests before are gone on the server too
  const open = async () => Number(/^flash_ws_subscriptions (\d+)/m.exec(await (await fetch(`${web.url}/metrics`)).text())?.[1])
  for (let i = 0; i < 100 && await open() !== 0; i++) await new Promise((r) => setTimeout(r, 50))
  expect(await open()).toBe(0)
  const a = await rawSocket()
  for (let id = 1; id <= 11; id++) subscribe(a.ws, id, 'coupon.onStock', { couponIds: [couponId] })
  const eleventh = await until(() => a.messages.find((m) => m.id === 11))
  expect(eleventh.error).toMatchObject({ data: { code: 'TOO_MANY_REQUESTS', reason: 'RATE_LIMITED' } })
  expect(a.messages.filter((m) => m.result?.type === 'started')).toHaveLength(10)
  const b = await rawSocket()
  for (let id = 1; id <= 3; id++) subscribe(b.ws, id, 'coupon.onStock', { couponIds: [couponId] })
  const third = await until(() => b.messages.find((m) => m.id === 3))
  expect(third.error).toMatchObject({ message: 'This server holds all the subscriptions it can; try again in a moment', data: { code: 'SERVICE_UNAVAILABLE', reason: 'TRY_AGAIN_LATER' } })
  // a stopped subscription frees its slot
  b.ws.send(JSON.stringify({ id: 1, method: 'subscription.stop' }))
  await until(() => b.messages.find((m) => m.id === 1 && m.result?.type === 'stopped'))
  subscribe(b.ws, 4, 'coupon.onStock', { couponIds: [couponId] })
  expect(await until(() => b.messages.find((m) => m.id === 4))).toMatchObject({ result: { type: 'started' } })
  a.ws.close()
  b.ws.close()
  await Promise.all([a.closed, b.closed])
})

it('serves subscriptions over /ws only: over HTTP they are refused, never streamed', async () => {
  const res = await fetch(procedureUrl(web.url, 'coupon.onStock', { couponIds: [couponId] }))
  expect({ status: res.status, body: await res.json() }).toEqual({ status: 405, body: refusalBody('INVALID_INPUT', 'Subscriptions are served over the WebSocket /ws', 'METHOD_NOT_SUPPORTED') })
})
