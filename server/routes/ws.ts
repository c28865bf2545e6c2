import type { Peer } from 'crossws'
import { identifyCredentials, upgradeCredentials } from '../auth/identify'
import type { Credentials } from '../auth/types'
import { DomainError, type Reason } from '../domain/errors'
import { ensureUser } from '../domain/users/service'
import { metrics } from '../observability/metrics'
import { sockets, stockFeed } from '../realtime'
import { refusalBody } from '../trpc/errors'

/**
 * /ws: live order results. Authenticated like tRPC (session cookie, or ?access_token=); the server
 * only pushes `order.updated` messages, and a client that missed one asks order.get.
 * Limits: MAX_SOCKETS_PER_USER per instance, frames of a few KB (server/plugins/security.ts; NGINX
 * limits the connection rate), and a socket lives only as long as its credential: each is checked
 * again every RECHECK_MS and closed with CREDENTIAL_ENDED once its session is signed out or expired,
 * or its token expired.
 */
export const MAX_SOCKETS_PER_USER = 5
const RECHECK_MS = 2_000
/** Close code (application range) telling the client its sign-in ended. */
export const CREDENTIAL_ENDED = 4401

interface Held { userId: number, credentials: Credentials }
const held = new Map<Peer, Held>()
const perUser = new Map<number, number>()
let recheckTimer: NodeJS.Timeout | undefined

function refusal(reason: Reason, message: string): Response {
  const body = refusalBody(reason, message)
  return new Response(JSON.stringify(body), { status: body.error.data.httpStatus, headers: { 'content-type': 'application/json' } })
}

/** Whether a socket's credential still proves someone (an outage of the realm's keys does not end it). */
async function stillValid(credentials: Credentials): Promise<boolean> {
  try {
    return (await identifyCredentials(credentials)) !== null
  } catch (error) {
    return !(error instanceof DomainError && error.reason === 'UNAUTHORIZED')
  }
}

async function recheck() {
  for (const [peer, { credentials }] of held) {
    if (!(await stillValid(credentials))) peer.close(CREDENTIAL_ENDED, 'signed out or expired: sign in again')
  }
}

export default defineWebSocketHandler({
  async upgrade(request) {
    const credentials = upgradeCredentials(request)
    let userId: number | undefined
    try {
      const identity = await identifyCredentials(credentials)
      if (identity) userId = (await ensureUser(identity)).id
    } catch (error) {
      throw error instanceof DomainError ? refusal(error.reason, error.message) : refusal('TRY_AGAIN_LATER', 'Try again in a moment')
    }
    if (userId === undefined) throw refusal('UNAUTHORIZED', 'Sign in first')
    if ((perUser.get(userId) ?? 0) >= MAX_SOCKETS_PER_USER) throw refusal('RATE_LIMITED', `At most ${MAX_SOCKETS_PER_USER} sockets per user`)
    request.context.userId = userId
    // Kept for the re-checks, without method and origin (those were checked now).
    request.context.credentials = { authorization: credentials.authorization, accessToken: credentials.accessToken, cookie: credentials.cookie }
  },
  async open(peer) {
    const userId = peer.context.userId as number
    const count = (perUser.get(userId) ?? 0) + 1
    // Concurrent upgrades of one user may all have passed the check above.
    if (count > MAX_SOCKETS_PER_USER) return peer.close(1008, 'too many sockets')
    perUser.set(userId, count)
    held.set(peer, { userId, credentials: peer.context.credentials as Credentials })
    recheckTimer ??= setInterval(() => void recheck(), RECHECK_MS).unref()
    await sockets.add(userId, peer)
    metrics.wsConnections.set(sockets.size)
    peer.send(JSON.stringify({ type: 'hello' }))
  },
  message(peer, message) {
    stockFeed.handle(peer, message.text())
  },
  async close(peer) {
    stockFeed.drop(peer)
    const entry = held.get(peer)
    if (!entry) return
    held.delete(peer)
    const left = (perUser.get(entry.userId) ?? 1) - 1
    if (left > 0) perUser.set(entry.userId, left)
    else perUser.delete(entry.userId)
    await sockets.remove(entry.userId, peer)
    metrics.wsConnections.set(sockets.size)
  },
})
