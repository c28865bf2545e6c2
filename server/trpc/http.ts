import type { H3Event } from 'h3'
import { readRawBody, setResponseHeader, setResponseStatus } from 'h3'
import { TRPCError } from '@trpc/server'
import { getDefaultErrorShape, getHTTPStatusCodeFromError, getStatusCodeFromKey, getTRPCErrorFromUnknown, type AnyProcedure } from '@trpc/server/unstable-core-do-not-import'
import type { DomainError } from '../domain/errors'
import { knownUserId } from '../domain/users/service'
import { observeProcedure } from '../observability/metrics'
import { contextLater, contextNow } from './context'
import { REASON_CODES, refuse, refusalBody, retryAfterOf, type RefusalBody } from './errors'
import type { Context, Meta } from './init'
import { appRouter } from './routers/_app'

/**
 * Bodies and query inputs larger than this are refused with PAYLOAD_TOO_LARGE before parsing (NGINX's
 * client_max_body_size is the same 64k).
 */
export const MAX_INPUT_BYTES = 64 * 1024
/** The most calls one batch may carry (the standard handler's maxBatchSize); each is rate-limited on its own. */
export const MAX_BATCH_SIZE = 10
/**
 * Procedure paths, one rule shared with NGINX (`$bad_trpc_path` in nginx/nginx.conf.template):
 * letters, digits, '_', '.' and ',' only, never percent-encoded, so the path NGINX picks its location
 * (and rate limit) by is the path called here.
 */
export const PROCEDURE_PATH = /^\/api\/trpc\/([A-Za-z0-9_.,]+)(?:\?|$)/
const PREFIX = '/api/trpc/'
const procedures = appRouter._def.procedures as unknown as Record<string, AnyProcedure & { _def: { meta?: Meta } }>
const formatError = appRouter._def._config.errorFormatter

/** The one HTTP method each procedure answers: GET for a query, POST for a mutation, none for a subscription (served on /ws). */
const METHOD_OF_TYPE = { query: 'GET', mutation: 'POST', subscription: '' } as const
const methods = new Map(Object.entries(procedures).map(([path, procedure]) => [path, METHOD_OF_TYPE[procedure._def.type]]))

/**
 * The `Allow` header of a procedure path (a batch's paths joined by ','): the method all of them
 * answer, '' when none answers them all over HTTP, undefined when one of them does not exist.
 */
export function allowedMethod(paths: string): string | undefined {
  let allow: string | undefined
  for (const path of paths.split(',')) {
    const method = methods.get(path)
    if (method === undefined) return undefined
    allow = allow === undefined || allow === method ? method : ''
  }
  return allow
}

/**
 * A URL that names a subscription among its procedures, tested without allocating (a GET passes
 * refuseMalformedCall without its path being taken apart); none while the router has no subscription.
 */
const subscriptionPaths = Object.keys(procedures).filter((path) => procedures[path]!._def.type === 'subscription')
const SUBSCRIPTION_URL = subscriptionPaths.length
  ? new RegExp(`^/api/trpc/(?:[^?]*,)?(?:${subscriptionPaths.map((p) => p.replace(/\./g, '\\.')).join('|')})(?:[,?]|$)`)
  : undefined

interface Call {
  path: string
  type: 'query' | 'mutation'
  isBatch: boolean
  event: H3Event
}

/**
 * The tRPC HTTP endpoint's fast lane (docs/decisions.md, "A lean tRPC lane for single calls"): a single query or mutation (batched
 * as one, or not batched) is called directly and answered in tRPC's own wire format — same result
 * and error shapes, status codes, GET for queries and POST for mutations — without the standard
 * handler's Request/Response machinery. Returns undefined for anything else (batches of several
 * calls, subscriptions, streaming), which the standard handler serves.
 */
export async function handleSingleCall(event: H3Event): Promise<string | undefined> {
  const url = event.node.req.url ?? ''
  const start = url.indexOf(PREFIX)
  if (start < 0 || event.node.req.headers['trpc-accept']) return undefined
  const q = url.indexOf('?', start)
  const path = url.slice(start + PREFIX.length, q < 0 ? undefined : q)
  if (path.includes(',')) return undefined
  const params = new URLSearchParams(q < 0 ? '' : url.slice(q + 1))
  const method = event.method
  if (method !== 'GET' && method !== 'POST') return undefined
  const procedure = procedures[path]
  if (procedure?._def.type === 'subscription') return undefined

  const call: Call = { path, type: method === 'GET' ? 'query' : 'mutation', isBatch: params.get('batch') === '1', event }
  let input: unknown
  let ctx: Context | undefined
  try {
    if (!procedure) throw new TRPCError({ code: 'NOT_FOUND', message: `No procedure found on path "${path}"` })
    if (procedure._def.type !== call.type) {
      throw new TRPCError({ code: 'METHOD_NOT_SUPPORTED', message: `Unsupported ${method}-request to ${procedure._def.type} procedure at path "${path}"` })
    }
    const raw = rawInput(call, params)
    input = parseInput(call, raw instanceof Promise ? await raw : raw)
    ctx = contextNow(event) ?? await contextLater(event)
    const known = ctx.identity && procedure._def.meta?.knownRefusal?.(input, knownUserId(ctx.identity.sub))
    if (known) return answerKnownRefusal(call, known)
    const data = await procedure({ ctx, getRawInput: async () => input, path, type: call.type, signal: undefined, batchIndex: 0 })
    setResponseHeader(event, 'content-type', 'application/json')
    const result = { result: { data } }
    return JSON.stringify(call.isBatch ? [result] : result)
  } catch (cause) {
    return respondWithError(call, getTRPCErrorFromUnknown(cause), input, ctx)
  }
}

/**
 * The call's input as sent: a query's `input` parameter, a mutation's body. A small call's body has
 * usually arrived with its headers, and is then taken in this turn, without h3's reader (its stream
 * listeners and promises cost a refusal more than its answer).
 */
function rawInput(call: Call, params: URLSearchParams): string | undefined | Promise<string | undefined> {
  if (call.type === 'query') return params.get('input') ?? undefined
  const req = call.event.node.req
  const declared = Number(req.headers['content-length'] ?? 0)
  if (declared > MAX_INPUT_BYTES) throw new TRPCError({ code: 'PAYLOAD_TOO_LARGE', message: 'Request body too large' })
  // every declared byte already buffered (the parser pushes them before the stream ends)
  if (declared > 0 && req.readableLength === declared && !req.readableFlowing) return (req.read() as Buffer).toString('utf8')
  return readRawBody(call.event, 'utf8').then((raw) => raw || undefined)
}

function parseInput(call: Call, raw: string | undefined): unknown {
  if (raw === undefined) return undefined
  if (raw.length > MAX_INPUT_BYTES) throw new TRPCError({ code: 'PAYLOAD_TOO_LARGE', message: 'Input too large' })
  let parsed: unknown
  try {
    parsed = JSON.parse(raw)
  } catch (cause) {
    // As the standard handler does: BAD_REQUEST carrying the parser's message.
    throw new TRPCError({ code: 'BAD_REQUEST', cause })
  }
  if (!call.isBatch) return parsed
  if (typeof parsed !== 'object' || parsed === null) throw new TRPCError({ code: 'BAD_REQUEST', message: '"input" needs to be an object when doing a batch call' })
  return (parsed as Record<string, unknown>)['0']
}

/**
 * The error answer, shaped by the router's own formatter (as the standard handler does, without its
 * generic path, which copies its options object for every call: a sold-out storm is answered here).
 */
function respondWithError(call: Call, error: TRPCError, input: unknown, ctx: Context | undefined): string {
  const shape = formatError({
    error,
    type: call.type,
    path: call.path,
    input,
    ctx,
    shape: getDefaultErrorShape({ error, path: call.path, isDev: false }),
  })
  const retryAfter = retryAfterOf(error)
  setResponseStatus(call.event, getHTTPStatusCodeFromError(error))
  setResponseHeader(call.event, 'content-type', 'application/json')
  if (retryAfter) setResponseHeader(call.event, 'retry-after', retryAfter)
  if (error.code === 'METHOD_NOT_SUPPORTED') setResponseHeader(call.event, 'allow', methods.get(call.path) ?? '')
  return JSON.stringify(call.isBatch ? [{ error: shape }] : { error: shape })
}

/**
 * A refusal given from what the instance knows (Meta.knownRefusal), recorded like any other call, and
 * answered with the body the formatter gives the same refusal (made once per path, reason and message).
 */
function answerKnownRefusal(call: Call, refusal: DomainError): string {
  const code = REASON_CODES[refusal.reason]
  observeProcedure(call.path, code, 0, refusal.reason)
  setResponseStatus(call.event, getStatusCodeFromKey(code))
  setResponseHeader(call.event, 'content-type', 'application/json')
  if (refusal.retryAfterSeconds) setResponseHeader(call.event, 'retry-after', refusal.retryAfterSeconds)
  const key = `${call.isBatch ? 1 : 0}${call.path}\n${refusal.reason}\n${refusal.message}`
  let body = knownBodies.get(key)
  if (body === undefined) {
    const { error } = refusalBody(refusal.reason, refusal.message)
    const shape = {
      error: {
        message: error.message,
        code: error.code,
        data: { code: error.data.code, httpStatus: error.data.httpStatus, path: call.path, reason: refusal.reason },
      },
    }
    body = JSON.stringify(call.isBatch ? [shape] : shape)
    if (knownBodies.size < 1_000) knownBodies.set(key, body)
  }
  return body
}
const knownBodies = new Map<string, string>()

const JSON_TYPE = /^application\/json\s*(?:;|$)/i

/**
 * What every call to /api/trpc must satisfy before either handler sees it: a path of PROCEDURE_PATH
 * (400 otherwise, also for bad percent-encodings) naming no subscription (405 with an empty `Allow`),
 * a method the procedure answers (405 with `Allow`, 404 for an unknown procedure) and, for POST, an
 * application/json body (415). A GET, or a POST of
 * JSON, passes without a look at the procedure (the handlers answer a GET on a mutation, or a POST
 * on a query, with 405 and `Allow` themselves), so the common call costs no more than the path test.
 * Returns the refusal's body, or undefined.
 */
export function refuseMalformedCall(event: H3Event): RefusalBody | undefined {
  const url = event.node.req.url ?? ''
  if (!PROCEDURE_PATH.test(url)) return refuse(event, 'INVALID_INPUT', 'Bad procedure path')
  const method = event.method
  // One real-time path: subscriptions are served over the WebSocket /ws, never as HTTP streams.
  if (SUBSCRIPTION_URL?.test(url)) return refuseMethod(event, method, PROCEDURE_PATH.exec(url)![1]!, '')
  if (method === 'GET' || (method === 'POST' && JSON_TYPE.test(event.node.req.headers['content-type'] ?? ''))) return undefined
  const path = PROCEDURE_PATH.exec(url)![1]!
  const allow = allowedMethod(path)
  if (allow === undefined) return refuse(event, 'NOT_FOUND', `No procedure found on path "${path}"`)
  if (allow !== method) return refuseMethod(event, method, path, allow)
  return refuse(event, 'INVALID_INPUT', 'Content-Type must be application/json', 'UNSUPPORTED_MEDIA_TYPE')
}

/** 405 with the methods the path does answer (RFC 9110: a 405 carries `Allow`). */
function refuseMethod(event: H3Event, method: string, path: string, allow: string): RefusalBody {
  setResponseHeader(event, 'allow', allow)
  const message = allow ? `Unsupported ${method}-request to "${path}": use ${allow}` : 'Subscriptions are served over the WebSocket /ws'
  return refuse(event, 'INVALID_INPUT', message, 'METHOD_NOT_SUPPORTED')
}
