import { initTRPC } from '@trpc/server'
import type { Identity } from '../auth/types'
import type { LiveSocket } from '../realtime/connections'
import { ensureUser } from '../domain/users/service'
import { DomainError } from '../domain/errors'
import { formatError, toTRPCError } from './errors'
import { recordCall, recordRefusal } from './observe'

export interface Context {
  /** Null for anonymous requests; invalid credentials never get this far (they are UNAUTHORIZED). */
  identity: Identity | null
  requestId: string
  /** The WebSocket a call came over (/ws); absent over HTTP. */
  socket?: LiveSocket
}

// isDev off everywhere: the formatter never sends a stack, so tRPC need not format one for each error.
// Both handlers call the formatter once for every error they answer: it records the calls refused
// before their procedure ran (observe.ts).
const t = initTRPC.context<Context>().create({
  isDev: false,
  errorFormatter: ({ shape, error, path, ctx }) => {
    recordRefusal(path, error, ctx?.requestId)
    return formatError(shape, error)
  },
})

/**
 * The root of every procedure, whichever handler calls it: domain refusals become tRPC errors with
 * their reason, and the call's latency, outcome and any internal error are recorded.
 */
const root = t.middleware(async ({ path, ctx, next }) => {
  const started = performance.now()
  const result = await next()
  if (result.ok) {
    recordCall(path, started, undefined, ctx.requestId)
    return result
  }
  const error = result.error.cause instanceof DomainError ? toTRPCError(result.error.cause) : result.error
  recordCall(path, started, error, ctx.requestId)
  if (error !== result.error) throw error
  return result
})

export const router = t.router
export const createCallerFactory = t.createCallerFactory
export const publicProcedure = t.procedure.use(root)

/** Guarantees ctx.user: the signed-in shopper's row, created on first sight of their Keycloak subject. */
export const protectedProcedure = publicProcedure.use(async ({ ctx, next }) => {
  if (!ctx.identity) throw new DomainError('UNAUTHORIZED', 'Sign in first')
  const user = await ensureUser(ctx.identity)
  return next({ ctx: { ...ctx, user } })
})

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
