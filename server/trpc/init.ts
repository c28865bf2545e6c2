import { initTRPC, type TRPCError } from '@trpc/server'
import { getTRPCErrorFromUnknown } from '@trpc/server/unstable-core-do-not-import'
import type { Identity } from '../auth/types'
import type { LiveSocket } from '../realtime/connections'
import { config } from '../config'
import { ensureUser } from '../domain/users/service'
import { DomainError, type Reason } from '../domain/errors'
import { isTransient } from '../domain/payments/events'
import { formatError, toTRPCError } from './errors'
import { recordCall, recordRefusal } from './observe'

export interface Context {
  /** Null for anonymous requests; invalid credentials never get this far (they are UNAUTHORIZED). */
  identity: Identity | null
  requestId: string
  /** The WebSocket a call came over (/ws); absent over HTTP. */
  socket?: LiveSocket
}

/**
 * What a procedure tells its callers beyond its schemas, for the API document (tools/openapi): the
 * reasons its own logic refuses with. The refusals every call can meet (bad input, credentials, a
 * wrong method, limits, an unavailable service) are documented for every procedure without this.
 */
export interface Meta {
  refusals?: readonly Reason[]
  /**
   * A refusal the instance can give from what it already knows (no I/O), answered by the fast lane
   * before the call's machinery (middlewares, deadlines, the procedure); undefined to make the call.
   * It must be an answer the procedure itself would give. `userId` is the caller's, when this
   * instance already knows it.
   */
  knownRefusal?: (input: unknown, userId: number | undefined) => DomainError | undefined
}

// isDev off everywhere: the formatter never sends a stack, so tRPC need not format one for each error.
// Both handlers call the formatter once for every error they answer: it records the calls refused
// before their procedure ran (observe.ts).
const t = initTRPC.context<Context>().meta<Meta>().create({
  isDev: false,
  errorFormatter: ({ shape, error, path, ctx }) => {
    recordRefusal(path, error, ctx?.requestId)
    return formatError(shape, error)
  },
})

/**
 * What a call whose dependency failed or stalled answers: a mutation OUTCOME_UNKNOWN, since its work
 * may have been sent before the failure (and may still complete); a query TRY_AGAIN_LATER.
 */
function outage(type: string): DomainError {
  return type === 'mutation' ? new DomainError('OUTCOME_UNKNOWN', 'We could not confirm this in time; check before trying again') : tryAgainLater()
}
const tryAgainLater = () => new DomainError('TRY_AGAIN_LATER', 'The shop is busy right now, try again', 1)

/**
 * The root of every procedure, whichever handler calls it: domain refusals become tRPC errors with
 * their reason, an outage (a dependency that refused or timed out) a refusal instead of a 500, and
 * the call's latency, outcome and any internal error are recorded. No call waits longer than
 * REQUEST_DEADLINE_MS, however its dependencies stall (each client has deadlines too; several in a
 * row could add up past it); the work in flight is not cancelled. `call` is the rest of the call:
 * what a procedure's own first step does is done in the same middleware (tRPC copies a call's
 * options at every level).
 */
async function observed<R extends { ok: boolean }>(path: string, type: string, ctx: Context, call: () => Promise<R>): Promise<R> {
  const started = performance.now()
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<'late'>((resolve) => { timer = setTimeout(() => resolve('late'), config().REQUEST_DEADLINE_MS) })
  let result: R | 'late' | { ok: false, error: TRPCError }
  try {
    result = await Promise.race([call(), late])
  } catch (cause) {
    result = { ok: false, error: getTRPCErrorFromUnknown(cause) }
  } finally {
    clearTimeout(timer)
  }
  if (result === 'late') {
    const error = toTRPCError(outage(type))
    recordCall(path, started, error, ctx.requestId)
    throw error
  }
  if (result.ok) {
    recordCall(path, started, undefined, ctx.requestId)
    return result as R
  }
  const failed = result as { error: TRPCError }
  const cause = failed.error.cause
  const refusal = cause instanceof DomainError ? cause : isTransient(cause) ? outage(type) : undefined
  const error = refusal ? toTRPCError(refusal) : failed.error
  recordCall(path, started, error, ctx.requestId)
  throw error
}

export const router = t.router
export const createCallerFactory = t.createCallerFactory
export const publicProcedure = t.procedure.use(({ path, type, ctx, next }) => observed(path, type, ctx, () => next()))

/** Guarantees ctx.user: the signed-in shopper's row, created on first sight of their Keycloak subject. */
export const protectedProcedure = t.procedure.use(({ path, type, ctx, next }) => observed(path, type, ctx, async () => {
  if (!ctx.identity) throw new DomainError('UNAUTHORIZED', 'Sign in first')
  // Nothing of the call has run yet: an outage here is a plain TRY_AGAIN_LATER, mutations included.
  const user = await ensureUser(ctx.identity).catch((error: unknown) => {
    throw isTransient(error) ? tryAgainLater() : error
  })
  return next({ ctx: { ...ctx, user } })
}))

export const adminProcedure = protectedProcedure.use(({ ctx, next }) => {
  if (!ctx.user.isAdmin) throw new DomainError('FORBIDDEN', 'Administrators only')
  return next()
})

/**
 * Subscriptions are served over the WebSocket /ws only, where `ctx.socket` is the caller's socket
 * (pass it to openStream in server/realtime). A subscription procedure is one of these two builders,
 * an input, and a resolver that returns a stream.
 */
const overSocket = t.middleware(({ ctx, next }) => {
  if (!ctx.socket) throw new DomainError('INVALID_INPUT', 'Subscriptions are served over the WebSocket /ws')
  return next({ ctx: { ...ctx, socket: ctx.socket } })
})
export const liveProcedure = publicProcedure.use(overSocket)
export const protectedLiveProcedure = protectedProcedure.use(overSocket)
