import { identifyCredentials } from '../auth/identify'
import { CLOCK_SKEW_SECONDS } from '../auth/jwt'
import type { Credentials } from '../auth/types'
import { DomainError } from '../domain/errors'

/** A socket on /ws as the subscriptions see it (server/routes/ws.ts makes one per connection). */
export interface LiveSocket {
  /** The shopper it is signed in as (session cookie at the upgrade, or connectionParams' token). */
  userId?: number
  /** What proved it, checked again while the socket lives: the session cookie (or header) it came with… */
  credentials?: Credentials
  /** …or the expiry (seconds since the epoch) of the token it sent in connectionParams. */
  tokenExpiresAt?: number
  /** Its open subscriptions. */
  subscriptions: number
  /** When its last message came (Date.now()); a PING of ours is awaiting its PONG. */
  lastSeen: number
  pinged?: boolean
  send: (text: string) => void
  close: (code: number, reason: string) => void
  /** Drops the connection without a closing handshake (a peer that stopped answering). */
  terminate: () => void
}

export interface ConnectionLimits {
  /** Sockets one shopper may hold on one instance (a tab holds one). */
  socketsPerUser: number
  /** Subscriptions one socket may hold (a tab needs a few: its orders, the stock on screen, the queue). */
  subscriptionsPerSocket: number
  /** Subscriptions of every kind on this instance. */
  subscriptions: number
}

/** Close code (application range) telling the client its sign-in ended. */
export const CREDENTIAL_ENDED = 4401
/** How often a signed-in socket's credential is checked again. */
const RECHECK_MS = 2_000
/**
 * Keep-alive: a socket idle for PING_AFTER_MS is sent "PING" (tRPC's client answers "PONG"), and
 * dropped if it has not answered PONG_WAIT_MS later — a client that vanished without a close (a cut
 * cable, a killed laptop) is noticed within a minute. One sweep for every socket, no timer per socket.
 */
const PING_AFTER_MS = 30_000
const PONG_WAIT_MS = 10_000
const SWEEP_MS = 10_000

/**
 * The sockets of this web instance: who they are signed in as (a cap per shopper), their
 * subscriptions (a cap per socket and per instance), and their credentials, checked again every
 * RECHECK_MS so a socket lives only as long as its session or token: it is closed with
 * CREDENTIAL_ENDED once the session is signed out or expired, or the token expired.
 */
export class LiveConnections {
  private readonly sockets = new Set<LiveSocket>()
  private readonly perUser = new Map<number, number>()
  private subscriptionCount = 0
  private recheckTimer: NodeJS.Timeout | undefined
  private sweepTimer: NodeJS.Timeout | undefined
  private rechecking = false

  constructor(private readonly limits: () => ConnectionLimits) {}

  get size(): number {
    return this.sockets.size
  }

  get subscriptions(): number {
    return this.subscriptionCount
  }

  open(socket: LiveSocket): void {
    this.sockets.add(socket)
    this.recheckTimer ??= setInterval(() => void this.recheck(), RECHECK_MS).unref()
    this.sweepTimer ??= setInterval(() => this.sweep(), SWEEP_MS).unref()
  }

  /** A message came from the socket: it is alive. */
  seen(socket: LiveSocket): void {
    socket.lastSeen = Date.now()
    socket.pinged = false
  }

  /**
   * Binds a socket to a shopper (a token in connectionParams replaces the session cookie's shopper);
   * RATE_LIMITED beyond their cap of sockets on this instance.
   */
  signIn(socket: LiveSocket, userId: number, proof: Credentials | { tokenExpiresAt: number }): void {
    this.unbind(socket)
    this.checkRoom(userId)
    this.perUser.set(userId, (this.perUser.get(userId) ?? 0) + 1)
    socket.userId = userId
    // A verified token only has to outlive its expiry: the socket keeps that, not the token (~1.5 KB).
    if ('tokenExpiresAt' in proof) socket.tokenExpiresAt = proof.tokenExpiresAt
    // Kept for the re-checks, without method and origin (those were checked at sign-in).
    else socket.credentials = { authorization: proof.authorization, cookie: proof.cookie }
  }

  /** RATE_LIMITED when the shopper holds their most sockets here (checked before an upgrade is accepted, too). */
  checkRoom(userId: number): void {
    const max = this.limits().socketsPerUser
    if ((this.perUser.get(userId) ?? 0) >= max) throw new DomainError('RATE_LIMITED', `At most ${max} sockets per user`, 1)
  }

  closed(socket: LiveSocket): void {
    if (!this.sockets.delete(socket)) return
    this.unbind(socket)
    if (!this.sockets.size) {
      clearInterval(this.recheckTimer)
      clearInterval(this.sweepTimer)
      this.recheckTimer = this.sweepTimer = undefined
    }
  }

  private unbind(socket: LiveSocket): void {
    if (socket.userId === undefined) return
    const left = (this.perUser.get(socket.userId) ?? 1) - 1
    if (left > 0) this.perUser.set(socket.userId, left)
    else this.perUser.delete(socket.userId)
    socket.userId = socket.credentials = socket.tokenExpiresAt = undefined
  }

  /**
   * Takes a subscription slot of the socket (and of the instance), given back by releaseSubscription.
   * RATE_LIMITED when the socket holds its most, TRY_AGAIN_LATER when the instance does (another
   * instance may have room: the client reconnects through the load balancer).
   */
  takeSubscription(socket: LiveSocket): void {
    const limits = this.limits()
    if (socket.subscriptions >= limits.subscriptionsPerSocket) throw new DomainError('RATE_LIMITED', `At most ${limits.subscriptionsPerSocket} subscriptions per socket`, 1)
    if (this.subscriptionCount >= limits.subscriptions) throw new DomainError('TRY_AGAIN_LATER', 'This server holds all the subscriptions it can; try again in a moment', 5)
    socket.subscriptions++
    this.subscriptionCount++
  }

  /** Gives back a slot taken by takeSubscription (once per slot: the caller's stream ends once). */
  releaseSubscription(socket: LiveSocket): void {
    socket.subscriptions--
    this.subscriptionCount--
  }

  private async recheck(): Promise<void> {
    if (this.rechecking) return
    this.rechecking = true
    try {
      for (const socket of this.sockets) {
        const expired = socket.tokenExpiresAt !== undefined && Date.now() / 1000 >= socket.tokenExpiresAt + CLOCK_SKEW_SECONDS
        if (expired || (socket.credentials && !(await stillValid(socket.credentials)))) {
          socket.close(CREDENTIAL_ENDED, 'signed out or expired: sign in again')
        }
      }
    } finally {
      this.rechecking = false
    }
  }

  private sweep(): void {
    const now = Date.now()
    for (const socket of this.sockets) {
      if (socket.pinged && now - socket.lastSeen > PING_AFTER_MS + PONG_WAIT_MS) socket.terminate()
      else if (!socket.pinged && now - socket.lastSeen > PING_AFTER_MS) {
        socket.pinged = true
        socket.send('PING')
      }
    }
  }

  /** Closes every socket with a hint to reconnect elsewhere (1012: service restart). */
  closeAll(): void {
    for (const socket of this.sockets) socket.close(1012, 'server restarting, reconnect')
  }
}

/** Whether a credential still proves someone (an outage of the realm's keys does not end it). */
async function stillValid(credentials: Credentials): Promise<boolean> {
  try {
    return (await identifyCredentials(credentials)) !== null
  } catch (error) {
    return !(error instanceof DomainError && error.reason === 'UNAUTHORIZED')
  }
}
