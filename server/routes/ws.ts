import type { IncomingMessage } from 'node:http'
import { getWSConnectionHandler, type WSConnectionHandlerOptions, type WSSHandlerOptions } from '@trpc/server/adapters/ws'
import type { WebSocket } from 'ws'
import { identifyCredentials, upgradeCredentials } from '../auth/identify'
import { DomainError, type Reason } from '../domain/errors'
import { checkSocketRate } from '../domain/ratelimit'
import { ensureUser } from '../domain/users/service'
import { log } from '../observability/log'
import { metrics } from '../observability/metrics'
import { connections } from '../realtime'
import type { LiveSocket } from '../realtime/connections'
import { createSocketContext, type UpgradeIdentity } from '../trpc/context'
import { refusalBody } from '../trpc/errors'
import { MAX_BATCH_SIZE } from '../trpc/http'
import { appRouter, type AppRouter } from '../trpc/routers/_app'

/**
 * /ws: the tRPC subscriptions (`order.onUpdate`, `coupon.onStock`, …), one socket per tab, on every
 * web instance. Nitro's WebSocket (crossws) accepts the upgrade; tRPC's own WebSocket handler then
 * serves the socket (the `ws` WebSocket underneath crossws' peer), as its `applyWSSHandler` would on a
 * `ws` server of its own (docs/decisions.md, "Live updates").
 *
 * The upgrade proves who comes with the session cookie (a browser); a script sends its token in
 * `connectionParams` instead (server/trpc/context.ts). A token in the URL is refused, so none can
 * reach a log. Anonymous sockets are welcome: live stock is public. Limits: sockets per shopper and a
 * connection rate per shopper (here, and in NGINX per cookie and address), subscriptions per socket
 * and per instance (server/realtime), frames of a few KB (server/plugins/security.ts).
 */
// Typed as applyWSSHandler's options, though it reads no `wss` (it serves one socket at a time).
const serve = getWSConnectionHandler({
  router: appRouter,
  createContext: ({ res, info }) => {
    const held = bySocket.get(res)!
    return createSocketContext(held.socket, held.upgraded, info.connectionParams)
  },
  maxBatchSize: MAX_BATCH_SIZE,
  // A client that vanished without a close (a cut cable, a killed laptop) is noticed within ~40 s.
  keepAlive: { enabled: true, pingMs: 30_000, pongWaitMs: 10_000 },
  onError({ error, path }) {
    if (error.code === 'INTERNAL_SERVER_ERROR') log.error('subscription failed', { path, error: error.cause ?? error })
  },
} as WSConnectionHandlerOptions<AppRouter> & Omit<WSSHandlerOptions<AppRouter>, 'wss'> as WSSHandlerOptions<AppRouter>)

interface Held { socket: LiveSocket, upgraded: UpgradeIdentity | null }
const bySocket = new WeakMap<WebSocket, Held>()

function refusal(reason: Reason, message: string, retryAfterSeconds?: number): Response {
  const body = refusalBody(reason, message)
  const headers: Record<string, string> = { 'content-type': 'application/json' }
  if (reason === 'RATE_LIMITED' || reason === 'TRY_AGAIN_LATER') headers['retry-after'] = String(retryAfterSeconds ?? 1)
  return new Response(JSON.stringify(body), { status: body.error.data.httpStatus, headers })
}

/** Who the upgrade proves to be (session cookie, or an Authorization header); null when anonymous. */
async function identifyUpgrade(request: Request): Promise<UpgradeIdentity | null> {
  if (new URL(request.url).searchParams.has('access_token')) {
    throw new DomainError('INVALID_INPUT', 'Send the token in connectionParams, never in the URL')
  }
  const identity = await identifyCredentials(upgradeCredentials(request))
  if (!identity) return null
  const { id: userId } = await ensureUser(identity)
  connections.checkRoom(userId)
  await checkSocketRate(userId)
  return { identity, userId }
}

export default defineWebSocketHandler({
  async upgrade(request) {
    try {
      request.context.upgraded = await identifyUpgrade(request)
    } catch (error) {
      throw error instanceof DomainError ? refusal(error.reason, error.message, error.retryAfterSeconds) : refusal('TRY_AGAIN_LATER', 'Try again in a moment')
    }
  },
  open(peer) {
    // Synchronously, before any message of the client can arrive: tRPC listens on the socket itself.
    const ws = peer.websocket as unknown as WebSocket
    const upgraded = (peer.context.upgraded as UpgradeIdentity | null) ?? null
    const socket: LiveSocket = { subscriptions: 0, close: (code, reason) => ws.close(code, reason) }
    connections.open(socket)
    bySocket.set(ws, { socket, upgraded })
    if (upgraded) {
      try {
        connections.signIn(socket, upgraded.userId, upgradeCredentials(peer.request))
      } catch {
        // Concurrent upgrades of one shopper may all have passed the check of the upgrade.
        return ws.close(1008, 'too many sockets')
      }
    }
    // tRPC's handler reads only the request's URL (whether connectionParams come first).
    serve(ws, { url: peer.request.url, headers: {} } as IncomingMessage)
    metrics.wsConnections.set(connections.size)
  },
  close(peer) {
    const held = bySocket.get(peer.websocket as unknown as WebSocket)
    if (!held) return
    connections.closed(held.socket)
    metrics.wsConnections.set(connections.size)
  },
})
