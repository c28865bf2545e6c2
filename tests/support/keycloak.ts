/**
 * Keycloak helpers for tests (real Keycloak of the test stack; env from `npm test`):
 *
 *   const user = await createUser()                       // a fresh shopper with a complete profile
 *   const admin = await createUser({ roles: ['admin'] })  // … or an administrator
 *   const token = await accessToken(user)                 // flash-sale-cli password grant (cached)
 *   fetch(url, { headers: { authorization: `Bearer ${token}` } })
 *
 * Env: KEYCLOAK_URL, KEYCLOAK_ADMIN_USERNAME/PASSWORD, OIDC_ISSUER, OIDC_CLI_CLIENT_ID, OIDC_WEB_CLIENT_ID.
 */
import { randomUUID } from 'node:crypto'

function env(name: string, fallback?: string): string {
  const v = process.env[name] ?? fallback
  if (!v) throw new Error(`${name} is not set (run the tests with \`npm test\`)`)
  return v
}

export const issuer = () => env('OIDC_ISSUER')
export const keycloakUrl = () => env('KEYCLOAK_URL', process.env.OIDC_ISSUER?.replace(/\/realms\/.*$/, ''))
export const realm = () => issuer().replace(/^.*\/realms\//, '').replace(/\/$/, '')
export const cliClientId = () => env('OIDC_CLI_CLIENT_ID', 'flash-sale-cli')
export const webClientId = () => env('OIDC_WEB_CLIENT_ID', 'flash-sale-web')

export interface TestUser {
  /** Keycloak user id (= the `sub` of their tokens). */
  id: string
  email: string
  password: string
}

export interface TokenResponse {
  access_token: string
  expires_in: number
  refresh_token?: string
  id_token?: string
}

let adminCache: { token: string, until: number } | undefined

/** A master-realm admin token (admin-cli), reused while it is fresh. */
export async function adminToken(): Promise<string> {
  if (adminCache && adminCache.until > Date.now()) return adminCache.token
  const res = await fetch(`${keycloakUrl()}/realms/master/protocol/openid-connect/token`, {
    method: 'POST',
    body: new URLSearchParams({
      grant_type: 'password',
      client_id: 'admin-cli',
      username: env('KEYCLOAK_ADMIN_USERNAME', 'admin'),
      password: env('KEYCLOAK_ADMIN_PASSWORD', 'admin'),
    }),
  })
  if (!res.ok) throw new Error(`Keycloak admin login: ${res.status} ${await res.text()}`)
  const body = await res.json() as TokenResponse
  adminCache = { token: body.access_token, until: Date.now() + (body.expires_in - 10) * 1000 }
  return body.access_token
}

/** A call to the realm's admin API (`path` relative to /admin/realms/<realm>); throws unless 2xx. */
export async function adminApi<T = unknown>(path: string, init: { method?: string, body?: unknown } = {}): Promise<T> {
  const res = await fetch(`${keycloakUrl()}/admin/realms/${realm()}${path}`, {
    method: init.method ?? 'GET',
    headers: { authorization: `Bearer ${await adminToken()}`, 'content-type': 'application/json' },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  })
  if (!res.ok) throw new Error(`Keycloak admin API ${init.method ?? 'GET'} ${path}: ${res.status} ${await res.text()}`)
  const text = await res.text()
  return (text ? JSON.parse(text) : undefined) as T
}

/** A unique test email address. */
export function uniqueEmail(prefix = 'user'): string {
  return `${prefix}-${randomUUID().slice(0, 12)}@test.example.com`
}

/**
 * Creates a realm user with a complete profile (first/last name, no required actions: direct grants
 * refuse incomplete accounts) and optional realm roles.
 */
export async function createUser(options: { email?: string, password?: string, roles?: string[] } = {}): Promise<TestUser> {
  const email = (options.email ?? uniqueEmail()).toLowerCase()
  const password = options.password ?? `pw-${randomUUID()}`
  await adminApi('/users', {
    method: 'POST',
    body: {
      username: email,
      email,
      firstName: 'Test',
      lastName: 'User',
      enabled: true,
      emailVerified: true,
      requiredActions: [],
      credentials: [{ type: 'password', value: password, temporary: false }],
    },
  })
  const [user] = await adminApi<{ id: string }[]>(`/users?exact=true&username=${encodeURIComponent(email)}`)
  if (!user) throw new Error(`user ${email} not found after creation`)
  if (options.roles?.length) {
    const roles = await Promise.all(options.roles.map((r) => adminApi<{ id: string, name: string }>(`/roles/${encodeURIComponent(r)}`)))
    await adminApi(`/users/${user.id}/role-mappings/realm`, { method: 'POST', body: roles })
  }
  return { id: user.id, email, password }
}

/** The Keycloak user id of an email address, or undefined. */
export async function findUserId(email: string): Promise<string | undefined> {
  const users = await adminApi<{ id: string }[]>(`/users?exact=true&email=${encodeURIComponent(email.toLowerCase())}`)
  return users[0]?.id
}

/** The number of active Keycloak sessions of a user (0 after a complete sign-out). */
export async function sessionCount(userId: string): Promise<number> {
  return (await adminApi<unknown[]>(`/users/${userId}/sessions`)).length
}

/** A password grant (direct access) at the realm's token endpoint; `clientId` defaults to flash-sale-cli. */
export async function passwordGrant(
  user: { email: string, password: string },
  clientId = cliClientId(),
  extra: Record<string, string> = {},
): Promise<TokenResponse> {
  const res = await fetch(`${issuer()}/protocol/openid-connect/token`, {
    method: 'POST',
    body: new URLSearchParams({
      grant_type: 'password',
      client_id: clientId,
      username: user.email,
      password: user.password,
      scope: 'openid',
      ...extra,
    }),
  })
  if (!res.ok) throw new Error(`password grant for ${user.email} (${clientId}): ${res.status} ${await res.text()}`)
  return (await res.json()) as TokenResponse
}

const tokens = new Map<string, { token: string, until: number }>()

/** An access token of flash-sale-cli for the user, cached while it has a minute left. */
export async function accessToken(user: { email: string, password: string }): Promise<string> {
  const hit = tokens.get(user.email)
  if (hit && hit.until > Date.now()) return hit.token
  const body = await passwordGrant(user)
  tokens.set(user.email, { token: body.access_token, until: Date.now() + (body.expires_in - 60) * 1000 })
  return body.access_token
}

/**
 * Creates a client in the realm (public, direct grants on by default); returns its internal id for
 * `deleteClient`. `attributes` e.g. `{ 'access.token.lifespan': '1' }` for short-lived tokens.
 */
export async function createClient(
  clientId: string,
  options: { attributes?: Record<string, string>, publicClient?: boolean } = {},
): Promise<string> {
  await adminApi('/clients', {
    method: 'POST',
    body: {
      clientId,
      enabled: true,
      protocol: 'openid-connect',
      publicClient: options.publicClient ?? true,
      standardFlowEnabled: false,
      directAccessGrantsEnabled: true,
      attributes: options.attributes ?? {},
    },
  })
  const [client] = await adminApi<{ id: string }[]>(`/clients?clientId=${encodeURIComponent(clientId)}`)
  if (!client) throw new Error(`client ${clientId} not found after creation`)
  return client.id
}

export async function deleteClient(id: string): Promise<void> {
  await adminApi(`/clients/${id}`, { method: 'DELETE' })
}

/**
 * Lets flash-sale-web accept another public address (a test's web instance): adds its callback to the
 * redirect URIs and its root to the post-logout redirect URIs. Idempotent.
 */
export async function allowWebAddress(publicUrl: string): Promise<void> {
  const base = publicUrl.replace(/\/$/, '')
  const [client] = await adminApi<Array<{ id: string, redirectUris?: string[], attributes?: Record<string, string> }>>(`/clients?clientId=${encodeURIComponent(webClientId())}`)
  if (!client) throw new Error(`client ${webClientId()} missing`)
  const redirectUris = [...new Set([...(client.redirectUris ?? []), `${base}/auth/keycloak/callback`])]
  const postLogout = new Set(String(client.attributes?.['post.logout.redirect.uris'] ?? '').split('##').filter(Boolean))
  postLogout.add(`${base}/`)
  await adminApi(`/clients/${client.id}`, {
    method: 'PUT',
    body: { ...client, redirectUris, attributes: { ...client.attributes, 'post.logout.redirect.uris': [...postLogout].join('##') } },
  })
}
