import { request } from 'node:http'
import { randomBytes } from 'node:crypto'
import WebSocket from 'ws'
import { subscribeMessage } from '../support/api'

/**
 * Attempts a WebSocket upgrade of `${baseUrl}/ws${query}` with raw HTTP (no client library) and
 * reports the answer: status 101 when the server accepted the socket (which is closed at once), else
 * the HTTP status of the refusal and its body (parsed JSON, or the text).
 */
export function wsUpgrade(baseUrl: string, query = '', headers: Record<string, string> = {}): Promise<{ status: number, body?: unknown }> {
  const url = new URL(`/ws${query}`, baseUrl)
  return new Promise((resolve, reject) => {
    const req = request({
      host: url.hostname,
      port: url.port,
      path: url.pathname + url.search,
      headers: {
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-key': randomBytes(16).toString('base64'),
        'sec-websocket-version': '13',
        ...headers,
      },
    })
    req.setTimeout(10_000, () => req.destroy(new Error('no answer to the upgrade')))
    req.on('upgrade', (res, socket) => {
      socket.destroy()
      resolve({ status: res.statusCode ?? 101 })
    })
    req.on('response', (res) => {
      let text = ''
      res.on('data', (c: Buffer) => { text += c })
      res.on('end', () => {
        let body: unknown = text
        try {
          body = JSON.parse(text)
        } catch { /* not JSON */ }
        resolve({ status: res.statusCode ?? 0, body })
      })
    })
    req.on('error', reject)
    req.end()
  })
}

/** wsUpgrade's status alone. */
export async function wsUpgradeStatus(baseUrl: string, query = '', headers: Record<string, string> = {}): Promise<number> {
  return (await wsUpgrade(baseUrl, query, headers)).status
}

/**
 * Opens a socket on `${baseUrl}/ws` (with the token in connectionParams when given, or the headers on
 * the upgrade) and subscribes to `order.onUpdate`: 'started' when the server accepted it, else the
 * refusal's reason (the connection's or the subscription's).
 */
export function onUpdateAnswer(baseUrl: string, token?: string, headers: Record<string, string> = {}): Promise<string> {
  const ws = new WebSocket(`${baseUrl.replace(/^http/, 'ws')}/ws${token ? '?connectionParams=1' : ''}`, { headers })
  return new Promise<string>((resolve, reject) => {
    ws.once('open', () => {
      if (token) ws.send(JSON.stringify({ method: 'connectionParams', data: { token } }))
      ws.send(subscribeMessage(1, 'order.onUpdate'))
    })
    ws.on('message', (raw) => {
      const message = JSON.parse(String(raw)) as { result?: { type: string }, error?: { data: { reason: string } } }
      resolve(message.error ? message.error.data.reason : String(message.result?.type))
    })
    ws.once('unexpected-response', (_req, res) => resolve(`HTTP ${res.statusCode}`))
    ws.once('error', reject)
  }).finally(() => ws.terminate())
}
