/** Machine-readable reasons a request is refused (docs/api.md, errors). */
export type Reason =
  | 'INVALID_INPUT'
  | 'UNAUTHORIZED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'SOLD_OUT'
  | 'ALREADY_PURCHASED'
  | 'ALREADY_REDEEMED'
  | 'SALE_NOT_STARTED'
  | 'SALE_ENDED'
  | 'PAYLOAD_TOO_LARGE'
  | 'RATE_LIMITED'
  | 'TRY_AGAIN_LATER'
  | 'NOT_ADMITTED'
  | 'OUTCOME_UNKNOWN'

/**
 * A refusal the domain expects; the tRPC layer maps it to a code and HTTP status in one table.
 * It carries no stack trace: it is an answer, not a bug, and a sold-out storm throws thousands a
 * second (capturing and formatting each one's stack cost more than the rest of the answer).
 */
export class DomainError extends Error {
  constructor(readonly reason: Reason, message: string = reason, readonly retryAfterSeconds?: number) {
    const limit = Error.stackTraceLimit
    Error.stackTraceLimit = 0
    super(message)
    Error.stackTraceLimit = limit
    this.name = 'DomainError'
  }
}
