import { LRUCache } from 'lru-cache'
import { config } from '../../config'
import { db } from '../../db'
import { redis } from '../../redis/client'
import { keys } from '../../redis/keys'
import type { Identity } from '../../auth/types'
import { DomainError } from '../errors'
import { addCredit, findUserById, findUserBySub, insertUserIfMissing } from './repository'

export interface User {
  id: number
  sub: string
  email: string
  isAdmin: boolean
}

// A subject's user id never changes: it is looked up once per process, and once overall through Redis.
const idsBySub = new LRUCache<string, number>({ max: 100_000 })

/** The user id of a subject this process has already seen; undefined otherwise. */
export function knownUserId(sub: string): number | undefined {
  return idsBySub.get(sub)
}

/** The user row of a Keycloak subject, created with the starting credit on first sight. */
export async function ensureUser(identity: Identity): Promise<User> {
  let id = idsBySub.get(identity.sub)
  if (id === undefined) {
    id = await userIdOfSubject(identity)
    idsBySub.set(identity.sub, id)
  }
  return { id, sub: identity.sub, email: identity.email, isAdmin: identity.isAdmin }
}

/**
 * A subject's user id, resolved through Redis (shared by every instance), so a token new to an
 * instance costs one GET and no MySQL. Only a subject Redis does not know (first sight anywhere, or
 * Redis lost its data) reads MySQL, creating the row there once, and then records the mapping.
 * A Redis that cannot answer falls back to MySQL: sign-in does not depend on it.
 */
async function userIdOfSubject(identity: Identity): Promise<number> {
  const key = keys.userOfSubject(identity.sub)
  const known = await redis().get(key).catch(() => null)
  if (known !== null && Number.isInteger(Number(known))) return Number(known)
  let row = await findUserBySub(db(), identity.sub)
  if (!row) {
    await insertUserIfMissing(db(), identity.sub, identity.email, config().STARTING_CREDIT)
    row = await findUserBySub(db(), identity.sub)
  }
  if (!row) throw new DomainError('FORBIDDEN', 'This email belongs to another account')
  const id = Number(row.id)
  redis().set(key, id).catch(() => {}) // every writer writes the same value
  return id
}

export async function describeUser(user: User) {
  const row = await findUserById(db(), user.id)
  if (!row) throw new DomainError('NOT_FOUND', 'No such user')
  return { id: user.id, email: row.email, credit: Number(row.credit), isAdmin: user.isAdmin }
}

export async function grantCredit(userId: number, amount: number) {
  const credit = await addCredit(db(), userId, amount)
  if (credit === undefined) throw new DomainError('NOT_FOUND', 'No such user')
  return { userId, credit }
}
