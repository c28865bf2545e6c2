import { request } from 'node:http'
import { randomBytes } from 'node:crypto'

/**
 * Attempts a WebSocket upgrade of `${baseUrl}/ws${query}` with raw HTTP (no client library) and
 * reports the status: 101 when the server accepted the socket (which is closed at once), else the
 * HTTP status of the refusal.
 */
export function wsUpgradeStatus(baseUrl: string, query = '', headers: Record<string, string> = {}): Promise<number> {
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
      resolve(res.statusCode ?? 101)
    })
    req.on('response', (res) => {
      res.resume()
      resolve(res.statusCode ?? 0)
    })
    req.on('error', reject)
    req.end()
  })
}
