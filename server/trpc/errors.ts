import { TRPCError } from '@trpc/server'
import { TRPC_ERROR_CODES_BY_KEY, type TRPC_ERROR_CODE_KEY } from '@trpc/server/rpc'
import { getStatusCodeFromKey } from '@trpc/server/unstable-core-do-not-import'
import type { H3Event } from 'h3'
import { setResponseHeader, setResponseStatus } from 'h3'
import { ZodError, z } from 'zod'
import { DomainError, type Reason } from '../domain/errors'

/** The one table from reason to tRPC code (docs/api.md, errors); HTTP statuses follow from the code. */
export const REASON_CODES: Record<Reason, TRPC_ERROR_CODE_KEY> = {
  INVALID_INPUT: 'BAD_REQUEST',
  UNAUTHORIZED: 'UNAUTHORIZED',
  FORBIDDEN: 'FORBIDDEN',
  NOT_FOUND: 'NOT_FOUND',
  SOLD_OUT: 'CONFLICT',
  ALREADY_PURCHASED: 'CONFLICT',
  ALREADY_REDEEMED: 'CONFLICT',
  SALE_NOT_STARTED: 'PRECONDITION_FAILED',
  SALE_ENDED: 'PRECONDITION_FAILED',
  PAYLOAD_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  RATE_LIMITED: 'TOO_MANY_REQUESTS',
  TRY_AGAIN_LATER: 'SERVICE_UNAVAILABLE',
  // the waiting room: no live admission for this user and coupon
  NOT_ADMITTED: 'FORBIDDEN',
  // the request may or may not have been carried out (a deadline passed after the work was sent)
  OUTCOME_UNKNOWN: 'GATEWAY_TIMEOUT',
}

const CODE_REASONS: Partial<Record<TRPC_ERROR_CODE_KEY, Reason>> = {
  BAD_REQUEST: 'INVALID_INPUT',
  PARSE_ERROR: 'INVALID_INPUT',
  UNAUTHORIZED: 'UNAUTHORIZED',
  FORBIDDEN: 'FORBIDDEN',
  NOT_FOUND: 'NOT_FOUND',
  PAYLOAD_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  TOO_MANY_REQUESTS: 'RATE_LIMITED',
  SERVICE_UNAVAILABLE: 'TRY_AGAIN_LATER',
  GATEWAY_TIMEOUT: 'OUTCOME_UNKNOWN',
  METHOD_NOT_SUPPORTED: 'INVALID_INPUT',
  UNSUPPORTED_MEDIA_TYPE: 'INVALID_INPUT',
}

/** Turns a domain refusal into the tRPC error that carries its reason (no stack, like the refusal). */
export function toTRPCError(error: DomainError): TRPCError {
  const limit = Error.stackTraceLimit
  Error.stackTraceLimit = 0
  const trpcError = new TRPCError({ code: REASON_CODES[error.reason], message: error.message, cause: error })
  Error.stackTraceLimit = limit
  return trpcError
}

export function reasonOf(error: TRPCError): Reason | undefined {
  if (error.cause instanceof DomainError) return error.cause.reason
  return CODE_REASONS[error.code]
}

export function retryAfterOf(error: TRPCError): number | undefined {
  if (error.cause instanceof DomainError && error.cause.retryAfterSeconds) return error.cause.retryAfterSeconds
  const reason = reasonOf(error)
  return reason === 'RATE_LIMITED' || reason === 'TRY_AGAIN_LATER' ? 1 : undefined
}

/**
 * The error formatter: `data` carries code, httpStatus and reason, and zod's flattened error for bad
 * input. Unexpected errors become a plain 500 without stack, SQL or message.
 */
export function formatError<TShape extends { message: string, data: Record<string, unknown> }>(shape: TShape, error: TRPCError) {
  const reason = reasonOf(error)
  const zodError = error.cause instanceof ZodError ? z.flattenError(error.cause) : undefined
  const internal = error.code === 'INTERNAL_SERVER_ERROR'
  return {
    ...shape,
    message: internal ? 'Internal server error' : zodError ? 'Invalid input' : shape.message,
    data: {
      code: shape.data.code,
      httpStatus: shape.data.httpStatus,
      path: shape.data.path,
      ...(reason ? { reason } : {}),
      ...(zodError ? { zodError } : {}),
    },
  }
}

/** The error body of a tRPC call: `{ error: { message, code, data: { code, httpStatus, reason } } }`. */
export interface RefusalBody {
  error: { message: string, code: number, data: { code: TRPC_ERROR_CODE_KEY, httpStatus: number, reason: Reason } }
}

/**
 * A refusal made outside a procedure (the CSRF middleware, uploads, the /ws upgrade, sign-in pages)
 * in tRPC's error shape, so every client reads one body whoever refused; NGINX's own refusals are the
 * same bodies written out (tests/security/edge.test.ts, "one refusal body", compares them). `code` overrides the
 * reason's code where HTTP needs a more precise status (415 for a wrong Content-Type).
 */
export function refusalBody(reason: Reason, message: string, code: TRPC_ERROR_CODE_KEY = REASON_CODES[reason]): RefusalBody {
  const httpStatus = getStatusCodeFromKey(code)
  return { error: { message, code: TRPC_ERROR_CODES_BY_KEY[code], data: { code, httpStatus, reason } } }
}

/** Sets the status (and Retry-After where it applies) of a refusal on the response and returns its body. */
export function refuse(event: H3Event, reason: Reason, message: string, code?: TRPC_ERROR_CODE_KEY): RefusalBody {
  const body = refusalBody(reason, message, code)
  setResponseStatus(event, body.error.data.httpStatus)
  setResponseHeader(event, 'content-type', 'application/json')
  if (reason === 'RATE_LIMITED' || reason === 'TRY_AGAIN_LATER') setResponseHeader(event, 'retry-after', 1)
  return body
}
