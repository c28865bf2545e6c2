import { randomUUID } from 'node:crypto'
import { accessToken, adminApi, createUser, uniqueEmail, type TestUser } from './keycloak'

export interface Shopper extends TestUser {
  token: string
}

/** Creates `count` Keycloak users and fetches a flash-sale-cli access token for each, a few at a time. */
export async function createShoppers(count: number, concurrency = 8): Promise<Shopper[]> {
  const result: Shopper[] = []
  let next = 0
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < count) {
      next++
      const user = await createUser()
      result.push({ ...user, token: await accessToken(user) })
    }
  }))
  return result
}

/**
 * Like createShoppers, for crowds: the users are made in one call of Keycloak's partial import (about
 * ten times faster than one by one), then their tokens are fetched `concurrency` at a time.
 */
export async function importShoppers(count: number, concurrency = 24): Promise<Shopper[]> {
  const users = Array.from({ length: count }, () => ({ email: uniqueEmail('crowd'), password: `pw-${randomUUID()}` }))
  const { results } = await adminApi<{ results: Array<{ resourceName: string, id: string }> }>('/partialImport', {
    method: 'POST',
    body: {
      ifResourceExists: 'FAIL',
      users: users.map((u) => ({
        username: u.email, email: u.email, firstName: 'Test', lastName: 'User', enabled: true, emailVerified: true,
        requiredActions: [], credentials: [{ type: 'password', value: u.password, temporary: false }],
      })),
    },
  })
  const ids = new Map(results.map((r) => [r.resourceName, r.id]))
  const shoppers: Shopper[] = []
  let next = 0
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < users.length) {
      const user = users[next++]!
      shoppers.push({ id: ids.get(user.email)!, ...user, token: await accessToken(user) })
    }
  }))
  return shoppers
}
