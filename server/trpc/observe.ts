import type { TRPCError } from '@trpc/server'
import { log } from '../observability/log'
import { observeProcedure } from '../observability/metrics'
import { reasonOf } from './errors'

/*
 * Latency, outcome counts and the internal-error log of every tRPC call, whichever handler served it
 * (the fast lane, tRPC's standard handler, a batch, a subscription). A call that reaches its procedure
 * is recorded by the root middleware (init.ts) with the procedure's time; a call refused before any
 * procedure ran (no such procedure, wrong method, unreadable input, bad credentials) is recorded,
 * without a time, by the error formatter, which both handlers call once for every error they answer.
 */

/** Errors the middleware recorded: the formatter sees them again and must not count them twice. */
const recorded = new WeakSet<TRPCError>()
let procedurePaths: ReadonlySet<string> = new Set()

/** The router's procedure paths: any other path is filed as `unknown`, so the label set stays closed. */
export function labelProcedures(paths: Iterable<string>): void {
  procedurePaths = new Set(paths)
}

/** A call that ran its procedure: `error` is undefined when it answered. */
export function recordCall(path: string, started: number, error: TRPCError | undefined, requestId: string | undefined): void {
  const seconds = (performance.now() - started) / 1000
  if (!error) {
    observeProcedure(path, 'OK', seconds)
    return
  }
  recorded.add(error)
  observeFailure(path, error, seconds, requestId)
}

/** An error about to be answered: recorded here unless its call was recorded by the middleware. */
export function recordRefusal(path: string | undefined, error: TRPCError, requestId: string | undefined): void {
  if (recorded.has(error)) return
  recorded.add(error)
  observeFailure(path && procedurePaths.has(path) ? path : 'unknown', error, 0, requestId)
}

function observeFailure(path: string, error: TRPCError, seconds: number, requestId: string | undefined): void {
  if (error.code === 'INTERNAL_SERVER_ERROR') log.error('procedure failed', { path, requestId, error: error.cause ?? error })
  observeProcedure(path, error.code, seconds, reasonOf(error))
}
