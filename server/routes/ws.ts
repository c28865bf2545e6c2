import type { Peer } from 'crossws'
import { identifyCredentials, upgradeCredentials } from '../auth/identify'
import type { Credentials } from '../auth/types'
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
/** What the upgrade proved, kept in the peer's context until the socket opens. */
interface Upgraded extends UpgradeIdentity { credentials: Credentials }

/**
 * One socket of /ws: what the subscriptions and the keep-alive see of crossws' peer, and its tRPC
 * session. Methods rather than closures: thousands of them sit idle.
 */
class PeerSocket implements LiveSocket {
  userId?: number
  credentials?: Credentials
  tokenExpiresAt?: number
  subscriptions = 0
  lastSeen = Date.now()
  pinged?: boolean
  readonly session: SocketSession

  constructor(private readonly peer: Peer, upgraded: Upgraded | null, awaitsParams: boolean) {
    this.session = new SocketSession(this, (params) => createSocketContext(this, upgraded, params), awaitsParams)
  }

  send(text: string): void {
    this.peer.send(text)
  }

  close(code: number, reason: string): void {
    this.peer.close(code, reason)
  }

  terminate(): void {
    this.peer.terminate()
  }
}
const held = new WeakMap<Peer, PeerSocket>()

function refusal(reason: Reason, message: string, retryAfterSeconds?: number): Response {
  const body = refusalBody(reason, message)
  const headers: Record<string, string> = { 'content-type': 'application/json' }
  if (reason === 'RATE_LIMITED' || reason === 'TRY_AGAIN_LATER') headers['retry-after'] = String(retryAfterSeconds ?? 1)
  return new Response(JSON.stringify(body), { status: body.error.data.httpStatus, headers })
}

/** Who the upgrade proves to be (session cookie, or an Authorization header); null when anonymous. */
async function identifyUpgrade(credentials: Credentials): Promise<Upgraded | null> {
  const identity = await identifyCredentials(credentials)
  if (!identity) return null
  const { id: userId } = await ensureUser(identity)
  connections.checkRoom(userId)
  await checkSocketRate(userId)
  return { identity, userId, credentials }
}

export default defineWebSocketHandler({
  // Everything the socket needs of its upgrade request is read here, once: crossws keeps the request
  // as long as the socket lives, and each of its header and URL accessors caches what it made.
  async upgrade(request) {
    try {
      const { searchParams } = new URL(request.url)
      if (searchParams.has('access_token')) throw new DomainError('INVALID_INPUT', 'Send the token in connectionParams, never in the URL')
      request.context.awaitsParams = searchParams.get('connectionParams') === '1'
      request.context.upgraded = await identifyUpgrade(upgradeCredentials(request))
    } catch (error) {
      throw error instanceof DomainError
        ? refusal(error.reason, error.message, error.retryAfterSeconds)
        : refusal('TRY_AGAIN_LATER', 'Try again in a moment')
    }
  },
  open(peer) {
    const upgraded = (peer.context.upgraded as Upgraded | null) ?? null
    const socket = new PeerSocket(peer, upgraded, peer.context.awaitsParams === true)
    held.set(peer, socket)
    connections.open(socket)
    metrics.wsConnections.set(connections.size)
    if (!upgraded) return
    try {
      connections.signIn(socket, upgraded.userId, upgraded.credentials)
    } catch {
      // Concurrent upgrades of one shopper may all have passed the check of the upgrade.
      peer.close(1008, 'too many sockets')
    }
  },
  message(peer, message) {
    const socket = held.get(peer)
    if (!socket) return
    connections.seen(socket)
    socket.session.receive(message.text())
  },
  close(peer) {
    const socket = held.get(peer)
    if (!socket) return
    held.delete(peer)
    socket.session.closed()
    connections.closed(socket)
    metrics.wsConnections.set(connections.size)
  },
})
