// Open subscriptions at rest, shared by `npm run bench` and bench/live-subscriptions.mjs: tabs on one
// web instance, each a socket holding `order.onUpdate` (its shopper's token in connectionParams) and
// `coupon.onStock` of a catalogue page (12 coupons), idle — no purchase — while the instance's CPU and
// RSS are read. The sockets speak tRPC's protocol by hand (the `ws` package): a client this light
// keeps the load generator's own cost out of the way.
import WebSocket from 'ws'
import { cpuSeconds, rssMb, sleep } from './util.mjs'

const PAGE = 12

/** Opens one tab: resolves once both of its subscriptions are started, rejects on a refusal. */
function openTab(webUrl, token, couponIds) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${webUrl.replace('http', 'ws')}/ws?connectionParams=1`)
    let started = 0
    ws.on('open', () => {
      ws.send(JSON.stringify({ method: 'connectionParams', data: { token } }))
      ws.send(JSON.stringify([
        { id: 1, method: 'subscription', params: { path: 'order.onUpdate', input: {} } },
        { id: 2, method: 'subscription', params: { path: 'coupon.onStock', input: { couponIds } } },
      ]))
    })
    ws.on('message', (data) => {
      const text = String(data)
      if (text === 'PING') return ws.send('PONG') // the server's keep-alive
      const msg = JSON.parse(text)
      if (msg.error) reject(new Error(`tab refused: ${JSON.stringify(msg.error)}`))
      else if (msg.result?.type === 'started' && ++started === 2) resolve(ws)
    })
    ws.on('error', reject)
  })
}

/**
 * `tabs` tabs (2 subscriptions each) of `users` shoppers spread over `coupons` (a multiple of 12,
 * `PAGE` per tab), opened `concurrency` at a time on the instance `web` ({ url, pid }). Measures the
 * instance's RSS and CPU at rest before, and over `seconds` at rest with every tab open, `settleSeconds`
 * after the last one opened.
 */
export async function measureOpenSubscriptions({
  web,
  users,
  coupons,
  tabs,
  seconds = 30,
  settleSeconds = 50,
  concurrency = 50,
  onProgress = () => {},
}) {
  await sleep(5_000) // start-up work, GC and timers settle
  const idleCpu0 = cpuSeconds(web.pid)
  await sleep(seconds * 1000)
  const before = { rssMb: rssMb(web.pid), heapMb: await heapUsedMb(web.url), cpuPct: ((cpuSeconds(web.pid) - idleCpu0) / seconds) * 100 }

  const sockets = []
  let next = 0
  const t0 = Date.now()
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < tabs) {
      const i = next++
      const page = i % (coupons.length / PAGE)
      sockets.push(await openTab(web.url, users[i % users.length].token, coupons.slice(page * PAGE, page * PAGE + PAGE)))
      if (sockets.length % 500 === 0) onProgress(sockets.length)
    }
  }))
  const openSeconds = (Date.now() - t0) / 1000
  // At rest means after a keep-alive round: each socket is pinged after 30 s of quiet and answers.
  // (Until then ws keeps the chunk its last frame came in — the ~1.5 KB connectionParams with the
  // token — alive through a 4-byte view of it.)
  await sleep(settleSeconds * 1000)
  const cpu0 = cpuSeconds(web.pid)
  const rssSamples = []
  for (let s = 0; s < seconds; s++) {
    await sleep(1000)
    rssSamples.push(rssMb(web.pid))
  }
  const cpuPct = ((cpuSeconds(web.pid) - cpu0) / seconds) * 100
  const text = await (await fetch(`${web.url}/metrics`)).text()
  const open = { rssMb: Math.max(...rssSamples), heapMb: gauge(text, 'nodejs_heap_size_used_bytes') / 1e6, cpuPct }
  const server = { sockets: gauge(text, 'flash_ws_connections'), subscriptions: gauge(text, 'flash_ws_subscriptions') }
  for (const ws of sockets) ws.terminate()
  return {
    tabs,
    subscriptions: tabs * 2,
    server,
    openSeconds,
    before,
    open,
    rssAboveIdleMb: open.rssMb - before.rssMb,
    heapAboveIdleMb: open.heapMb - before.heapMb,
  }
}

const gauge = (metrics, name) => Number(new RegExp(`^${name} ([\\d.e+]+)`, 'm').exec(metrics)?.[1])

/** The instance's live JavaScript heap in MB (prom-client's nodejs_heap_size_used_bytes). */
async function heapUsedMb(url) {
  return gauge(await (await fetch(`${url}/metrics`)).text(), 'nodejs_heap_size_used_bytes') / 1e6
}
