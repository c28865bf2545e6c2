import { LRUCache } from 'lru-cache'
import { config } from '../../config'
import { db } from '../../db'
import type { Identity } from '../../auth/types'
import { DomainError } from '../errors'
import { addCredit, findUserById, findUserBySub, insertUserIfMissing } from './repository'

export interface User {
  id: number
  sub: string
  email: string
  isAdmin: boolean
}

// A subject's user id never changes, so it is looked up once per process.
const idsBySub = new LRUCache<string, number>({ max: 100_000 })

/** The user row of a Keycloak subject, created with the starting credit on first sight. */
export async function ensureUser(identity: Identity): Promise<User> {
  let id = idsBySub.get(identity.sub)
  if (id === undefined) {
    let row = await findUserBySub(db(), identity.sub)
    if (!row) {
      await insertUserIfMissing(db(), identity.sub, identity.email, config().STARTING_CREDIT)
      row = await findUserBySub(db(), identity.sub)
    }
    if (!row) throw new DomainError('FORBIDDEN', 'This email belongs to another account')
    id = Number(row.id)
    idsBySub.set(identity.sub, id)
  }
  return { id, sub: identity.sub, email: identity.email, isAdmin: identity.isAdmin }
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
