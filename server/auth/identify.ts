import type { H3Event } from 'h3'
import type { Identity } from './types'

/**
 * The identity behind a request: a bearer token (which decides when present) or the session cookie.
 * Returns null for anonymous requests; throws DomainError('UNAUTHORIZED') for invalid credentials.
 */
export async function identifyEvent(_event: H3Event): Promise<Identity | null> {
  return null
}
