/**
 * /ws on a web instance: frames of a few KB at most, a cap on one user's sockets, and refusals in the
 * one error body. (Its connection rate is NGINX's: tests/security/edge.test.ts; sockets closed when the
 * session or token ends: sessions.test.ts and identity-provider.test.ts.)
 */
import { randomBytes } from 'node:crypto'
import { request } from 'node:http'
import { afterAll, beforeAll, expect, it } from 'vitest'
import WebSocket from 'ws'
import { closeDb } from '../../server/db'
import { closeRedis } from '../../server/redis/client'
import { refusalBody } from '../../server/trpc/errors'
import { startWeb, type Proc } from '../support/processes'
import { createShoppers, type Shopper } from '../support/shoppers'

let web: Proc
let shopper: Shopper
const open: WebSocket[] = []

beforeAll(async () => {
  const [started, shoppers] = await Promise.all([startWeb(), createShoppers(1)])
  web = started
  shopper = shoppers[0]!
}, 120_000)

afterAll(async () => {
  for (const s of open) s.terminate()
  await web?.stop()
  await closeRedis()
  await closeDb()
})

function connect(token: string): Promise<WebSocket> {
  const socket = new WebSocket(`${web.url.replace('http', 'ws')}/ws?access_token=${token}`)
  open.push(socket)
  return new Promise((resolve, reject) => {
    socket.once('message', () => resolve(socket))
    socket.once('error', reject)
    socket.once('unexpected-response', (_req, res) => reject(new Error(`upgrade answered ${res.statusCode}`)))
  })
}

/** The status and JSON body of a refused upgrade. */
function refusedUpgrade(query: string): Promise<{ status: number, body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request(`${web.url}/ws${query}`, { headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-key': randomBytes(16).toString('base64'), 'sec-websocket-version': '13' } })
    req.on('upgrade', (_res, socket) => { socket.destroy(); reject(new Error('the upgrade was accepted')) })
    req.on('response', (res) => {
      let text = ''
      res.on('data', (c: Buffer) => { text += c })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }))
    })
    req.on('error', reject)
    req.end()
  })
}

it('closes a socket that sends a frame larger than a few KB (1009), and keeps one that sends small ones', async () => {
  const small = await connect(shopper.token)
  small.send('x'.repeat(1_000))
  const big = await connect(shopper.token)
  const code = new Promise<number>((resolve) => big.once('close', resolve))
  big.send(randomBytes(64 * 1024))
  expect(await code).toBe(1009)
  await new Promise((r) => setTimeout(r, 200))
  expect(small.readyState).toBe(WebSocket.OPEN)
  small.close()
  await new Promise((r) => small.once('close', r))
})

it('caps one user\'s sockets at 5 and refuses the next with RATE_LIMITED in the one error body', async () => {
  await new Promise((r) => setTimeout(r, 300)) // the previous test's sockets are gone on the server too
  const five = await Promise.all(Array.from({ length: 5 }, () => connect(shopper.token)))
  expect(five.every((s) => s.readyState === WebSocket.OPEN)).toBe(true)
  expect(await refusedUpgrade(`?access_token=${shopper.token}`)).toEqual({ status: 429, body: refusalBody('RATE_LIMITED', 'At most 5 sockets per user') })
  // a socket closed frees its place
  five[0]!.close()
  await new Promise((r) => five[0]!.once('close', r))
  await new Promise((r) => setTimeout(r, 100))
  expect((await connect(shopper.token)).readyState).toBe(WebSocket.OPEN)
})

it('refuses an anonymous or forged upgrade in the one error body', async () => {
  expect(await refusedUpgrade('')).toEqual({ status: 401, body: refusalBody('UNAUTHORIZED', 'Sign in first') })
  const forged = await refusedUpgrade('?access_token=forged')
  expect(forged).toMatchObject({ status: 401, body: { error: { code: -32001, data: { code: 'UNAUTHORIZED', httpStatus: 401, reason: 'UNAUTHORIZED' } } } })
})
