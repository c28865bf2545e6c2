import { identifyCredentials } from '../auth/identify'
import type { Credentials } from '../auth/types'
import { DomainError } from '../domain/errors'

/** A socket on /ws as the subscriptions see it (server/routes/ws.ts makes one per connection). */
export interface LiveSocket {
  /** The shopper it is signed in as (session cookie at the upgrade, or connectionParams' token). */
  userId?: number
  /** What proved it, checked again while the socket lives. */
  credentials?: Credentials
  /** Its open subscriptions. */
  subscriptions: number
  close: (code: number, reason: string) => void
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
  }

  /**
   * Binds a socket to a shopper (a token in connectionParams replaces the session cookie's shopper);
   * RATE_LIMITED beyond their cap of sockets on this instance.
   */
  signIn(socket: LiveSocket, userId: number, credentials: Credentials): void {
    this.unbind(socket)
    this.checkRoom(userId)
    this.perUser.set(userId, (this.perUser.get(userId) ?? 0) + 1)
    socket.userId = userId
    // Kept for the re-checks, without method and origin (those were checked at sign-in).
    socket.credentials = { authorization: credentials.authorization, cookie: credentials.cookie }
  }

  /** RATE_LIMITED when the shopper holds their most sockets here (checked before an upgrade is accepted, too). */
  checkRoom(userId: number): void {
    const max = this.limits().socketsPerUser
    if ((this.perUser.get(userId) ?? 0) >= max) throw new DomainError('RATE_LIMITED', `At most ${max} sockets per user`, 1)
  }

  closed(socket: LiveSocket): void {
    if (!this.sockets.delete(socket)) return
    this.unbind(socket)
    if (!this.sockets.size && this.recheckTimer) {
      clearInterval(this.recheckTimer)
      this.recheckTimer = undefined
    }
  }

  private unbind(socket: LiveSocket): void {
    if (socket.userId === undefined) return
    const left = (this.perUser.get(socket.userId) ?? 1) - 1
    if (left > 0) this.perUser.set(socket.userId, left)
    else this.perUser.delete(socket.userId)
    socket.userId = undefined
    socket.credentials = undefined
  }

  /**
   * Takes a subscription slot of the socket (and of the instance); returns the function that gives it
   * back. RATE_LIMITED when the socket holds its most, TRY_AGAIN_LATER when the instance does (another
   * instance may have room: the client reconnects through the load balancer).
   */
  takeSubscription(socket: LiveSocket): () => void {
    const limits = this.limits()
    if (socket.subscriptions >= limits.subscriptionsPerSocket) throw new DomainError('RATE_LIMITED', `At most ${limits.subscriptionsPerSocket} subscriptions per socket`, 1)
    if (this.subscriptionCount >= limits.subscriptions) throw new DomainError('TRY_AGAIN_LATER', 'This server holds all the subscriptions it can; try again in a moment', 5)
    socket.subscriptions++
    this.subscriptionCount++
    let released = false
    return () => {
      if (released) return
      released = true
      socket.subscriptions--
      this.subscriptionCount--
    }
  }

  private async recheck(): Promise<void> {
    if (this.rechecking) return
    this.rechecking = true
    try {
      for (const socket of this.sockets) {
        if (socket.credentials && !(await stillValid(socket.credentials))) socket.close(CREDENTIAL_ENDED, 'signed out or expired: sign in again')
      }
    } finally {
      this.rechecking = false
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
