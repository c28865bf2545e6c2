import { TRPCError } from '@trpc/server'
import { getDefaultErrorShape, getHTTPStatusCodeFromError } from '@trpc/server/unstable-core-do-not-import'
import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { DomainError, type Reason } from '../domain/errors'
import { formatError, reasonOf, REASON_CODES, refusalBody, retryAfterOf, toTRPCError } from './errors'

/** The reason table of docs/api.md: reason → HTTP status. */
const HTTP_STATUS: Record<Reason, number> = {
  INVALID_INPUT: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_ADMITTED: 403,
  NOT_FOUND: 404,
  SOLD_OUT: 409,
  ALREADY_PURCHASED: 409,
  ALREADY_REDEEMED: 409,
  SALE_NOT_STARTED: 412,
  SALE_ENDED: 412,
  PAYLOAD_TOO_LARGE: 413,
  RATE_LIMITED: 429,
  TRY_AGAIN_LATER: 503,
  OUTCOME_UNKNOWN: 504,
}
const REASONS = Object.keys(HTTP_STATUS) as Reason[]

/** The answer's error shape, as the router's formatter makes it. */
const errorShape = (error: TRPCError, path: string) => formatError(getDefaultErrorShape({ error, path, isDev: false }), error)

describe('the reason table', () => {
  it('gives every reason the HTTP status of the documented table', () => {
    expect(Object.keys(REASON_CODES).sort()).toEqual([...REASONS].sort())
    for (const reason of REASONS) {
      expect(getHTTPStatusCodeFromError(toTRPCError(new DomainError(reason))), reason).toBe(HTTP_STATUS[reason])
    }
  })

  it('turns a domain refusal into a tRPC error that keeps its reason and message, without a stack', () => {
    const error = toTRPCError(new DomainError('SOLD_OUT', 'Sold out'))
    expect(error.code).toBe('CONFLICT')
    expect(error.message).toBe('Sold out')
    expect(reasonOf(error)).toBe('SOLD_OUT')
    expect(error.stack?.split('\n').filter((line) => line.trimStart().startsWith('at '))).toEqual([])
  })

  it('names a reason for errors tRPC raises itself, and none for an internal error', () => {
    expect(reasonOf(new TRPCError({ code: 'PARSE_ERROR' }))).toBe('INVALID_INPUT')
    expect(reasonOf(new TRPCError({ code: 'METHOD_NOT_SUPPORTED' }))).toBe('INVALID_INPUT')
    expect(reasonOf(new TRPCError({ code: 'TOO_MANY_REQUESTS' }))).toBe('RATE_LIMITED')
    expect(reasonOf(new TRPCError({ code: 'GATEWAY_TIMEOUT' }))).toBe('OUTCOME_UNKNOWN')
    expect(reasonOf(new TRPCError({ code: 'INTERNAL_SERVER_ERROR' }))).toBeUndefined()
  })

  it('asks for Retry-After on RATE_LIMITED and TRY_AGAIN_LATER only, using the refusal\'s own delay', () => {
    expect(retryAfterOf(toTRPCError(new DomainError('TRY_AGAIN_LATER')))).toBe(1)
    expect(retryAfterOf(toTRPCError(new DomainError('TRY_AGAIN_LATER', 'busy', 7)))).toBe(7)
    expect(retryAfterOf(new TRPCError({ code: 'TOO_MANY_REQUESTS' }))).toBe(1)
    expect(retryAfterOf(toTRPCError(new DomainError('SOLD_OUT')))).toBeUndefined()
  })
})

describe('the error shape', () => {
  it('carries code, httpStatus, path and reason in data', () => {
    const shape = errorShape(toTRPCError(new DomainError('SALE_ENDED', 'The sale has ended')), 'order.purchase')
    expect(shape.message).toBe('The sale has ended')
    expect(shape.data).toEqual({ code: 'PRECONDITION_FAILED', httpStatus: 412, path: 'order.purchase', reason: 'SALE_ENDED' })
  })

  it('shows an internal error as a plain 500, without its message or stack', () => {
    const shape = errorShape(
      new TRPCError({ code: 'INTERNAL_SERVER_ERROR', cause: new Error('ER_DUP_ENTRY: SELECT * FROM users') }),
      'user.me',
    )
    expect(shape.message).toBe('Internal server error')
    expect(shape.data).toEqual({ code: 'INTERNAL_SERVER_ERROR', httpStatus: 500, path: 'user.me' })
    expect(JSON.stringify(shape)).not.toMatch(/SELECT|ER_DUP|at /)
  })

  it('flattens a zod failure into data.zodError as INVALID_INPUT', () => {
    const parsed = z.object({ couponId: z.number().int().min(1) }).safeParse({ couponId: 0 })
    expect(parsed.success).toBe(false)
    const shape = errorShape(new TRPCError({ code: 'BAD_REQUEST', cause: parsed.error }), 'order.purchase')
    expect(shape.message).toBe('Invalid input')
    expect(shape.data).toMatchObject({
      code: 'BAD_REQUEST',
      httpStatus: 400,
      reason: 'INVALID_INPUT',
      zodError: { fieldErrors: { couponId: [expect.any(String)] } },
    })
  })

  it('writes refusals made outside a procedure in the same shape, with a more precise status when asked', () => {
    expect(refusalBody('RATE_LIMITED', 'Slow down')).toEqual({
      error: { message: 'Slow down', code: -32029, data: { code: 'TOO_MANY_REQUESTS', httpStatus: 429, reason: 'RATE_LIMITED' } },
    })
    const media = refusalBody('INVALID_INPUT', 'Content-Type must be application/json', 'UNSUPPORTED_MEDIA_TYPE')
    expect(media.error.data).toEqual({ code: 'UNSUPPORTED_MEDIA_TYPE', httpStatus: 415, reason: 'INVALID_INPUT' })
  })
})
