import type { H3Event } from 'h3'
import { getRequestHeader } from 'h3'
import { randomUUID } from 'node:crypto'
import { identifyEvent } from '../auth/identify'
import { DomainError } from '../domain/errors'
import { toTRPCError } from './errors'
import type { Context } from './init'

export async function createContext(event: H3Event): Promise<Context> {
  try {
    const identity = await identifyEvent(event)
    return { identity, requestId: getRequestHeader(event, 'x-request-id') ?? randomUUID() }
  } catch (error) {
    throw error instanceof DomainError ? toTRPCError(error) : error
  }
}
