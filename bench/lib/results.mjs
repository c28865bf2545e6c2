// Purchase → result over the WebSocket, shared by `npm run bench` and bench/ws-latency.mjs: shoppers
// with an `order.onUpdate` subscription (tRPC's own client, token in connectionParams), purchases with
// a few in flight, and the workers' own settlement histograms.
import { createTRPCClient, createWSClient, wsLink } from '@trpc/client'
import { sleep } from './util.mjs'

const RESULT_WAIT_MS = 2000

/**
 * One socket per shopper with its `order.onUpdate` subscription started, each recording when an
 * order's update arrived (`arrivals`: orderId → hrtime); `close()` ends them.
 */
export async function openResultSockets(webUrl, users) {
  return await Promise.all(users.map((u) => new Promise((resolve, reject) => {
    const socket = createWSClient({ url: `${webUrl.replace('http', 'ws')}/ws`, connectionParams: { token: u.token } })
    const api = createTRPCClient({ links: [wsLink({ client: socket })] })
    const arrivals = new Map()
    api.order.onUpdate.subscribe(undefined, {
      onStarted: () => resolve({ arrivals, close: () => socket.close() }),
      onData: ({ data }) => arrivals.set(data.orderId, process.hrtime.bigint()),
      onError: reject,
    })
  })))
}

/**
 * Every shopper buys `couponId` once, `concurrency` purchases in flight; each waits up to 2 s for its
 * result on its socket. Returns the latencies in ms: `answered` (request → PENDING answer) and
 * `pushed` (request → its update received on the subscription).
 */
export async function buyAndAwaitResults({ webUrl, users, sockets, couponId, concurrency }) {
  const answered = []
  const pushed = []
  let next = 0
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < users.length) {
      const i = next++
      const t0 = process.hrtime.bigint()
      const res = await fetch(`${webUrl}/api/trpc/order.purchase`, {
        method: 'POST',
        headers: { authorization: `Bearer ${users[i].token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ couponId }),
      })
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
