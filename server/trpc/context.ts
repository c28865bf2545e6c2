import type { H3Event } from 'h3'
import { getRequestHeader } from 'h3'
import { randomUUID } from 'node:crypto'
import { identifyEventLater, identifyEventNow } from '../auth/identify'
import { verifyAccessToken } from '../auth/jwt'
import type { Identity } from '../auth/types'
import { DomainError } from '../domain/errors'
import { checkSocketRate } from '../domain/ratelimit'
import { ensureUser } from '../domain/users/service'
import { connections } from '../realtime'
import type { LiveSocket } from '../realtime/connections'
import { toTRPCError } from './errors'
import type { Context } from './init'

/** A refusal (DomainError) as the tRPC error it answers with; anything else as it is. */
const asTRPCError = (error: unknown) => error instanceof DomainError ? toTRPCError(error) : error

export async function createContext(event: H3Event): Promise<Context> {
  return contextNow(event) ?? await contextLater(event)
}

/**
 * The call's context when it needs no waiting (anonymous, or a bearer token this process verified
 * before: identifyEventNow), else undefined. The fast lane answers most signed-in calls, and every
 * known refusal, without waiting a turn of the event loop for it.
 */
export function contextNow(event: H3Event): Context | undefined {
  let identity: Identity | null | undefined
  try {
    identity = identifyEventNow(event)
  } catch (error) {
    throw asTRPCError(error)
  }
  return identity === undefined ? undefined : contextOf(event, identity)
}

/** The call's context once its credentials are checked: what contextNow could not answer at once. */
export async function contextLater(event: H3Event): Promise<Context> {
  const identity = await identifyEventLater(event).catch((error: unknown) => { throw asTRPCError(error) })
  return contextOf(event, identity)
}

function contextOf(event: H3Event, identity: Identity | null): Context {
  return { identity, requestId: getRequestHeader(event, 'x-request-id') ?? randomUUID() }
}

/**
 * The id of a socket's calls, kept as long as the socket lives: a flat copy of a UUID, as
 * randomUUID() returns a rope of ~15 pieces (~0.5 KB while it is kept, instead of ~60 bytes).
 */
function socketRequestId(): string {
  return Buffer.from(randomUUID(), 'latin1').toString('latin1')
}

/** Who a socket is, as its upgrade proved (the session cookie) — null for an anonymous upgrade. */
export interface UpgradeIdentity { identity: Identity, userId: number }

/**
 * The context of every call on one socket of /ws, made once per connection. A script's token comes
 * in `connectionParams: { token }` (never in the URL) and decides over the session cookie, like a
 * bearer token does over HTTP; the shopper it proves is held to their cap of sockets and their
 * connection rate here, since NGINX cannot see it. A refusal closes the socket after the one error
 * body (`id: null`).
 */
export async function createSocketContext(
  socket: LiveSocket,
  upgraded: UpgradeIdentity | null,
  connectionParams: Record<string, string | undefined> | null,
): Promise<Context> {
  const requestId = socketRequestId()
  const token = connectionParams?.token
  if (!token) return { identity: upgraded?.identity ?? null, requestId, socket }
  try {
    const { sub, email, isAdmin, exp } = await verifyAccessToken(token)
    const identity = { sub, email, isAdmin }
    const user = await ensureUser(identity)
    await checkSocketRate(user.id)
    connections.signIn(socket, user.id, { tokenExpiresAt: exp })
    return { identity, requestId, socket }
  } catch (error) {
    throw asTRPCError(error)
  }
}
