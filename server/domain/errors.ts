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

/** A refusal the domain expects; the tRPC layer maps it to a code and HTTP status in one table. */
export class DomainError extends Error {
  constructor(readonly reason: Reason, message: string = reason, readonly retryAfterSeconds?: number) {
    super(message)
    this.name = 'DomainError'
  }
}
