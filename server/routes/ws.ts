import { identifyUpgrade } from '../auth/identify'
import { ensureUser } from '../domain/users/service'
import { metrics } from '../observability/metrics'
import { sockets, stockFeed } from '../realtime'

/**
 * /ws: live order results. Authenticated like tRPC (session cookie, or ?access_token=); the server
 * only pushes `order.updated` messages, and a client that missed one asks order.get.
 */
export default defineWebSocketHandler({
  async upgrade(request) {
    let userId: number
    try {
      const identity = await identifyUpgrade(request)
      if (!identity) throw new Error('anonymous')
      userId = (await ensureUser(identity)).id
    } catch {
      throw new Response(JSON.stringify({ error: 'UNAUTHORIZED' }), { status: 401, headers: { 'content-type': 'application/json' } })
    }
    request.context.userId = userId
  },
  async open(peer) {
    await sockets.add(peer.context.userId as number, peer)
    metrics.wsConnections.set(sockets.size)
    peer.send(JSON.stringify({ type: 'hello' }))
  },
  message(peer, message) {
    stockFeed.handle(peer, message.text())
  },
  async close(peer) {
    stockFeed.drop(peer)
    await sockets.remove(peer.context.userId as number, peer)
    metrics.wsConnections.set(sockets.size)
  },
})
