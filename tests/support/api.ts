import type { inferRouterInputs, inferRouterOutputs } from '@trpc/server'
import type { AppRouter } from '../../server/trpc/routers/_app'

/*
 * Procedures named the way tests name them — 'coupon.list', 'order.purchase' — but checked by the
 * typechecker against the router: a renamed or removed procedure breaks every test that calls it,
 * and an input of the wrong shape does too (malformed() marks the ones a test sends on purpose).
 * Where a test names a procedure outside a call (a metric label, a captured request), it says
 * `'order.purchase' satisfies CallPath`.
 */

type Inputs = inferRouterInputs<AppRouter>
type Outputs = inferRouterOutputs<AppRouter>
type Procedures = AppRouter['_def']['record']

/** Every procedure's path. */
export type ProcedurePath = { [R in keyof Inputs & string]: `${R}.${keyof Inputs[R] & string}` }[keyof Inputs & string]

type KindOf<P extends ProcedurePath> = P extends `${infer R extends keyof Procedures & string}.${infer N}`
  ? Procedures[R] extends Record<N, { _def: { type: infer T } }> ? T : never
  : never

/** Paths of the procedures served over HTTP (queries and mutations). */
export type CallPath = { [P in ProcedurePath]: KindOf<P> extends 'query' | 'mutation' ? P : never }[ProcedurePath]
/** Paths of the subscriptions (served over the WebSocket /ws). */
export type SubscriptionPath = Exclude<ProcedurePath, CallPath>

export type InputOf<P extends ProcedurePath> = P extends `${infer R extends keyof Inputs & string}.${infer N}`
  ? Inputs[R] extends Record<N, infer I> ? I : never
  : never
export type OutputOf<P extends ProcedurePath> = P extends `${infer R extends keyof Outputs & string}.${infer N}`
  ? Outputs[R] extends Record<N, infer O> ? O : never
  : never

/** An input a test sends on purpose although its procedure's schema refuses it. */
export const malformed = (input: unknown): never => input as never

/** The tRPC error a refused call answers with (the router's one error shape). */
export interface CallError {
  message: string
  code: number
  data: { code: string, httpStatus: number, reason?: string, zodError?: unknown }
}

export interface CallResult<P extends CallPath> {
  status: number
  headers: Headers
  /** The parsed JSON (the raw text when it is not JSON). */
  body: unknown
  /** The result's data; undefined when the call was refused. */
  data?: OutputOf<P>
  error?: CallError
  /** The refusal's reason (`error.data.reason`). */
  reason?: string
}

export type CallOptions<P extends CallPath> = {
  input?: InputOf<P>
  token?: string
  /** A Cookie header (e.g. `nuxt-session=…`). */
  cookie?: string
  headers?: Record<string, string>
  /** As a batch of one (`?batch=1`), the way the app's client sends a single call; default false. */
  batch?: boolean
} & (KindOf<P> extends 'mutation' ? { mutation: true } : { mutation?: false })

/** A call's options: required for a mutation (it says `mutation: true`), optional otherwise. */
type OptionsArg<P extends CallPath> = KindOf<P> extends 'mutation' ? [CallOptions<P>] : [CallOptions<P>?]

/**
 * One tRPC call over plain HTTP, as any client makes it (no transformer): GET for queries, POST for
 * mutations, with an optional bearer token, cookie and headers. Redirects are not followed.
 */
export async function call<P extends CallPath>(baseUrl: string, path: P, ...[options]: OptionsArg<P>): Promise<CallResult<P>> {
  const { input, token, cookie, batch = false, mutation = false } = options ?? {}
  const headers: Record<string, string> = { ...options?.headers }
  if (token) headers.authorization = `Bearer ${token}`
  if (cookie) headers.cookie = cookie
  let url = `${baseUrl}/api/trpc/${path}`
  const init: RequestInit = { headers, redirect: 'manual' }
  if (mutation) {
    init.method = 'POST'
    headers['content-type'] = 'application/json'
    init.body = JSON.stringify(batch ? { 0: input ?? null } : input ?? {})
    if (batch) url += '?batch=1'
  } else if (batch) {
    url += `?batch=1&input=${encodeURIComponent(JSON.stringify({ 0: input ?? null }))}`
  } else if (input !== undefined) {
    url += `?input=${encodeURIComponent(JSON.stringify(input))}`
  }
  const res = await fetch(url, init)
  const text = await res.text()
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    body = text
  }
  const first = (Array.isArray(body) ? body[0] : body) as { error?: CallError, result?: { data?: OutputOf<P> } } | undefined
  return {
    status: res.status,
    headers: res.headers,
    body,
    data: first?.result?.data,
    error: first?.error,
    reason: first?.error?.data?.reason,
  }
}

/** A call prepared for a table of calls: its path, and `send` to make it with some credentials. */
export function request<P extends CallPath>(path: P, ...[options]: OptionsArg<P>) {
  const send = (baseUrl: string, credentials: { token?: string, cookie?: string, headers?: Record<string, string> } = {}) =>
    (call as (baseUrl: string, path: P, options: CallOptions<P>) => Promise<CallResult<P>>)(baseUrl, path, {
      ...options,
      ...credentials,
    } as CallOptions<P>)
  return { path, send }
}

/** `${baseUrl}/api/trpc/<path>`, with a query's input in the query string. */
export function procedureUrl<P extends ProcedurePath>(baseUrl: string, path: P, input?: InputOf<P>): string {
  const url = `${baseUrl}/api/trpc/${path}`
  return input === undefined ? url : `${url}?input=${encodeURIComponent(JSON.stringify(input))}`
}

/** tRPC's WebSocket message that starts subscription `id`. */
export function subscribeMessage<P extends SubscriptionPath>(id: number, path: P, input?: InputOf<P>): string {
  return JSON.stringify({ id, method: 'subscription', params: { path, ...(input === undefined ? {} : { input }) } })
}
