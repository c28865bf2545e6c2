import type { Peer } from 'crossws'
import { identifyCredentials, upgradeCredentials } from '../auth/identify'
import { DomainError, type Reason } from '../domain/errors'
import { checkSocketRate } from '../domain/ratelimit'
import { ensureUser } from '../domain/users/service'
import { metrics } from '../observability/metrics'
import { connections } from '../realtime'
import type { LiveSocket } from '../realtime/connections'
import { createSocketContext, type UpgradeIdentity } from '../trpc/context'
import { refusalBody } from '../trpc/errors'
import { SocketSession } from '../trpc/ws'

/**
 * /ws: the tRPC subscriptions (`order.onUpdate`, `coupon.onStock`, …), one socket per tab, on every
 * web instance. Nitro's WebSocket (crossws) accepts the upgrade and carries the frames; a
 * SocketSession speaks tRPC's WebSocket protocol on them (server/trpc/ws.ts), so `@trpc/client`'s
 * wsLink works unchanged.
 *
 * The upgrade proves who comes with the session cookie (a browser); a script sends its token in
 * `connectionParams` instead (server/trpc/context.ts). A token in the URL is refused, so none can
 * reach a log. Anonymous sockets are welcome: live stock is public. Limits: sockets per shopper and a
 * connection rate per shopper (here, and in NGINX per cookie and address), subscriptions per socket
 * and per instance (server/realtime), frames of a few KB (server/plugins/security.ts).
 */
interface Held { socket: LiveSocket, session: SocketSession }
const held = new WeakMap<Peer, Held>()

function refusal(reason: Reason, message: string, retryAfterSeconds?: number): Response {
  const body = refusalBody(reason, message)
  const headers: Record<string, string> = { 'content-type': 'application/json' }
  if (reason === 'RATE_LIMITED' || reason === 'TRY_AGAIN_LATER') headers['retry-after'] = String(retryAfterSeconds ?? 1)
  return new Response(JSON.stringify(body), { status: body.error.data.httpStatus, headers })
}

/** Who the upgrade proves to be (session cookie, or an Authorization header); null when anonymous. */
async function identifyUpgrade(request: { url: string, headers: Headers }): Promise<UpgradeIdentity | null> {
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
      throw error instanceof DomainError
        ? refusal(error.reason, error.message, error.retryAfterSeconds)
        : refusal('TRY_AGAIN_LATER', 'Try again in a moment')
    }
  },
  open(peer) {
    const upgraded = (peer.context.upgraded as UpgradeIdentity | null) ?? null
    const socket: LiveSocket = {
      subscriptions: 0,
      lastSeen: Date.now(),
      send: (text) => peer.send(text),
      close: (code, reason) => peer.close(code, reason),
      terminate: () => peer.terminate(),
    }
    const awaitsParams = new URL(peer.request.url).searchParams.get('connectionParams') === '1'
    const session = new SocketSession(socket, (params) => createSocketContext(socket, upgraded, params), awaitsParams)
    held.set(peer, { socket, session })
    connections.open(socket)
    metrics.wsConnections.set(connections.size)
    if (!upgraded) return
    try {
      connections.signIn(socket, upgraded.userId, upgradeCredentials(peer.request))
    } catch {
      // Concurrent upgrades of one shopper may all have passed the check of the upgrade.
      peer.close(1008, 'too many sockets')
    }
  },
  message(peer, message) {
    const entry = held.get(peer)
    if (!entry) return
    connections.seen(entry.socket)
    entry.session.receive(message.text())
  },
  close(peer) {
    const entry = held.get(peer)
    if (!entry) return
    held.delete(peer)
    entry.session.closed()
    connections.closed(entry.socket)
    metrics.wsConnections.set(connections.size)
  },
})
