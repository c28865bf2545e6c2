// Purchase → result over the WebSocket, shared by `npm run bench` and bench/ws-latency.mjs: shoppers
// with an open /ws, purchases with a few in flight, and the workers' own settlement histograms.
import WebSocket from 'ws'
import { sleep } from './util.mjs'

const RESULT_WAIT_MS = 2000

/** One open /ws per shopper, each recording when an order's `order.updated` arrived. */
export function openResultSockets(webUrl, users) {
  return Promise.all(users.map((u) => new Promise((resolve, reject) => {
    const ws = new WebSocket(`${webUrl.replace('http', 'ws')}/ws?access_token=${u.token}`)
    ws.on('error', reject)
    ws.arrivals = new Map()
    ws.on('message', (data) => {
      const msg = JSON.parse(String(data))
      if (msg.type === 'hello') resolve(ws)
      if (msg.type === 'order.updated') ws.arrivals.set(msg.orderId, process.hrtime.bigint())
    })
  })))
}

/**
 * Every shopper buys `couponId` once, `concurrency` purchases in flight; each waits up to 2 s for its
 * result on its socket. Returns the latencies in ms: `answered` (request → PENDING answer) and
 * `pushed` (request → `order.updated` received).
 */
export async function buyAndAwaitResults({ webUrl, users, sockets, couponId, concurrency }) {
  const answered = []
  const pushed = []
  let next = 0
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < users.length) {
      const i = next++
      const t0 = process.hrtime.bigint()
      const res = await fetch(`${webUrl}/api/trpc/order.purchase`, { method: 'POST', headers: { authorization: `Bearer ${users[i].token}`, 'content-type': 'application/json' }, body: JSON.stringify({ couponId }) })
      const orderId = (await res.json()).result?.data?.orderId
      answered.push(Number(process.hrtime.bigint() - t0) / 1e6)
      if (!orderId) continue
      for (let waited = 0; waited < RESULT_WAIT_MS && !sockets[i].arrivals.has(orderId); waited += 2) await sleep(2)
      const at = sockets[i].arrivals.get(orderId)
      if (at) pushed.push(Number(at - t0) / 1e6)
    }
  }))
  return { answered, pushed }
}

const SETTLE_HISTOGRAMS = ['flash_settle_batch_seconds', 'flash_settle_latency_seconds']

/** Sum and count of a worker's settlement histograms (batch settle time; reservation → settled). */
export async function settleHistograms(metricsPort) {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text()
  const lines = text.split('\n')
  const value = (name, suffix) => Number(lines.find((l) => l.startsWith(`${name}_${suffix}`))?.split(' ').at(-1) ?? 0)
  return Object.fromEntries(SETTLE_HISTOGRAMS.map((name) => [name, { sum: value(name, 'sum'), count: value(name, 'count') }]))
}

/** Mean in ms of one histogram over several readings (and, with `since`, only what came after them). */
export function histogramMeanMs(name, readings, since = []) {
  const sum = readings.reduce((a, r, i) => a + r[name].sum - (since[i]?.[name].sum ?? 0), 0)
  const count = readings.reduce((a, r, i) => a + r[name].count - (since[i]?.[name].count ?? 0), 0)
  return count ? (sum / count) * 1000 : NaN
}
