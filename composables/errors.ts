import type { Reason } from '~~/server/domain/errors'
import type { FailureReason } from '~~/server/domain/orders/schemas'

/** The machine-readable `data.reason` of a tRPC error (docs/api.md, errors), wherever Nuxt wrapped it. */
export function reasonOf(error: unknown): string | undefined {
  let e = error as { data?: { reason?: string }, cause?: unknown } | undefined
  // useAsyncData wraps the TRPCClientError in a NuxtError; walk the cause chain to find `data.reason`.
  for (let depth = 0; e && depth < 4; depth++) {
    if (e.data?.reason) return e.data.reason
    e = e.cause as typeof e
  }
  return undefined
}

/**
 * Words for every reason the server can give: a refusal's `data.reason`, or a failed order's `reason`.
 * Typed against both unions, so a reason added on the server without a text here is a type error.
 */
export const REASON_TEXT: Record<Reason | FailureReason, string> = {
  SOLD_OUT: 'Sold out',
  ALREADY_PURCHASED: 'You already own this coupon',
  SALE_NOT_STARTED: 'The sale has not opened yet',
  SALE_ENDED: 'The sale has ended',
  RATE_LIMITED: 'Too many attempts — wait a moment and try again',
  TRY_AGAIN_LATER: 'The shop is busy — try again in a moment',
  NOT_ADMITTED: 'Wait for your turn in the queue',
  OUTCOME_UNKNOWN: 'We could not confirm your order yet — checking',
  ALREADY_REDEEMED: 'This code was already redeemed',
  UNAUTHORIZED: 'Sign in first',
  FORBIDDEN: 'You are not allowed to do that',
  NOT_FOUND: 'Not found',
  INSUFFICIENT_CREDIT: 'Not enough credit',
  CANCELLED: 'The order was cancelled, nothing was charged',
  PAYMENT_ERROR: 'The payment could not be processed, nothing was charged',
  INVALID_INPUT: 'Some fields are not valid',
  PAYLOAD_TOO_LARGE: 'The file is too large',
}

/** Words a shopper understands for a reason code. */
export function describeReason(reason: string | null | undefined): string {
  if (!reason) return 'Something went wrong'
  return (REASON_TEXT as Record<string, string | undefined>)[reason] ?? reason.toLowerCase().replaceAll('_', ' ')
}

/** A message for any error: its reason in words, else a generic sentence (never a stack). */
export function describeError(error: unknown): string {
  const reason = reasonOf(error)
  return reason ? describeReason(reason) : 'Something went wrong — please try again'
}
