import type { H3Event } from 'h3'
import { readRawBody, setResponseHeader, setResponseStatus } from 'h3'
import { TRPCError } from '@trpc/server'
import { getErrorShape, getHTTPStatusCodeFromError, getTRPCErrorFromUnknown, type AnyProcedure } from '@trpc/server/unstable-core-do-not-import'
import { log } from '../observability/log'
import { observeProcedure } from '../observability/metrics'
import { createContext } from './context'
import { reasonOf, retryAfterOf } from './errors'
import type { Context } from './init'
import { appRouter } from './routers/_app'

/** Bodies and query inputs larger than this are refused with PAYLOAD_TOO_LARGE before parsing. */
export const MAX_INPUT_BYTES = 64 * 1024
const PREFIX = '/api/trpc/'
const procedures = appRouter._def.procedures as unknown as Record<string, AnyProcedure>

interface Call {
  path: string
  type: 'query' | 'mutation'
  isBatch: boolean
  event: H3Event
}

/**
 * The tRPC HTTP endpoint's fast lane (docs/decisions.md, "A lean tRPC lane for single calls"): a single query or mutation (batched
 * as one, or not batched) is called directly and answered in tRPC's own wire format — same result
 * and error shapes, status codes, GET for queries and POST for mutations — without the stock
 * adapter's Request/Response machinery. Returns undefined for anything else (batches of several
 * calls, subscriptions, streaming), which the stock handler serves.
 */
export async function handleSingleCall(event: H3Event): Promise<string | undefined> {
  const url = event.node.req.url ?? ''
  const start = url.indexOf(PREFIX)
  if (start < 0 || event.node.req.headers['trpc-accept']) return undefined
  const q = url.indexOf('?', start)
  const path = decodeURIComponent(url.slice(start + PREFIX.length, q < 0 ? undefined : q))
  if (path.includes(',')) return undefined
  const params = new URLSearchParams(q < 0 ? '' : url.slice(q + 1))
  const method = event.method
  if (method !== 'GET' && method !== 'POST') return undefined
  const procedure = procedures[path]
  if (procedure?._def.type === 'subscription') return undefined

  const call: Call = { path, type: method === 'GET' ? 'query' : 'mutation', isBatch: params.get('batch') === '1', event }
  let input: unknown
  let ctx: Context | undefined
  const started = performance.now()
  try {
    if (!procedure) throw new TRPCError({ code: 'NOT_FOUND', message: `No procedure found on path "${path}"` })
    if (procedure._def.type !== call.type) {
      throw new TRPCError({ code: 'METHOD_NOT_SUPPORTED', message: `Unsupported ${method}-request to ${procedure._def.type} procedure at path "${path}"` })
    }
    input = await readInput(call, params)
    ctx = await createContext(event)
    const data = await procedure({ ctx, getRawInput: async () => input, path, type: call.type, signal: undefined, batchIndex: 0 })
    setResponseHeader(event, 'content-type', 'application/json')
    observe(path, 'OK', started)
    const result = { result: { data } }
    return JSON.stringify(call.isBatch ? [result] : result)
  } catch (cause) {
    return respondWithError(call, getTRPCErrorFromUnknown(cause), input, ctx, started)
  }
}

async function readInput(call: Call, params: URLSearchParams): Promise<unknown> {
  let raw: string | undefined
  if (call.type === 'query') {
    raw = params.get('input') ?? undefined
  } else {
    const declared = Number(call.event.node.req.headers['content-length'] ?? 0)
    if (declared > MAX_INPUT_BYTES) throw new TRPCError({ code: 'PAYLOAD_TOO_LARGE', message: 'Request body too large' })
    raw = (await readRawBody(call.event, 'utf8')) || undefined
  }
  if (raw === undefined) return undefined
  if (raw.length > MAX_INPUT_BYTES) throw new TRPCError({ code: 'PAYLOAD_TOO_LARGE', message: 'Input too large' })
  let parsed: unknown
  try {
    parsed = JSON.parse(raw)
  } catch (cause) {
    // As the stock adapter does: BAD_REQUEST carrying the parser's message.
    throw new TRPCError({ code: 'BAD_REQUEST', cause })
  }
  if (!call.isBatch) return parsed
  if (typeof parsed !== 'object' || parsed === null) throw new TRPCError({ code: 'BAD_REQUEST', message: '"input" needs to be an object when doing a batch call' })
  return (parsed as Record<string, unknown>)['0']
}

function respondWithError(call: Call, error: TRPCError, input: unknown, ctx: Context | undefined, started: number): string {
  if (error.code === 'INTERNAL_SERVER_ERROR') log.error('procedure failed', { path: call.path, requestId: ctx?.requestId, error: String(error.cause ?? error) })
  const shape = getErrorShape({ config: appRouter._def._config, error, type: call.type, path: call.path, input, ctx })
  const retryAfter = retryAfterOf(error)
  setResponseStatus(call.event, getHTTPStatusCodeFromError(error))
  setResponseHeader(call.event, 'content-type', 'application/json')
  if (retryAfter) setResponseHeader(call.event, 'retry-after', retryAfter)
  observe(call.path, error.code, started, reasonOf(error))
  return JSON.stringify(call.isBatch ? [{ error: shape }] : { error: shape })
}

function observe(path: string, code: string, started: number, reason?: string) {
  observeProcedure(path, code, (performance.now() - started) / 1000, reason)
}
