import { TRPCError } from '@trpc/server'
import type { TRPC_ERROR_CODE_KEY } from '@trpc/server/rpc'
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
  METHOD_NOT_SUPPORTED: 'INVALID_INPUT',
}

/** Turns a domain refusal into the tRPC error that carries its reason. */
export function toTRPCError(error: DomainError): TRPCError {
  return new TRPCError({ code: REASON_CODES[error.reason], message: error.message, cause: error })
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
