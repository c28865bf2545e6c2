// Shoppers for the benchmark: Keycloak users made through the admin API, each with a flash-sale-cli
// access token (password grant). Kept in <stackDir>/bench-users.json so a rerun within the tokens'
// hour reuses them (a fresh web instance has still never seen them).
import { randomUUID } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'

export function keycloakOf(env) {
  const issuer = env.OIDC_ISSUER
  const base = env.KEYCLOAK_URL || issuer.replace(/\/realms\/.*$/, '')
  const realm = issuer.replace(/^.*\/realms\//, '').replace(/\/$/, '')
  let admin
  async function adminToken() {
    if (admin && admin.until > Date.now()) return admin.token
    const res = await fetch(`${base}/realms/master/protocol/openid-connect/token`, {
      method: 'POST',
      body: new URLSearchParams({
        grant_type: 'password',
        client_id: 'admin-cli',
        username: env.KEYCLOAK_ADMIN_USERNAME || 'admin',
        password: env.KEYCLOAK_ADMIN_PASSWORD || 'admin',
      }),
    })
    if (!res.ok) throw new Error(`Keycloak admin login: ${res.status} ${await res.text()}`)
    const body = await res.json()
    admin = { token: body.access_token, until: Date.now() + (body.expires_in - 10) * 1000 }
    return admin.token
  }
  async function createUser() {
    const email = `bench-${randomUUID().slice(0, 13)}@bench.example.com`
    const password = `pw-${randomUUID()}`
    const res = await fetch(`${base}/admin/realms/${realm}/users`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await adminToken()}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        username: email,
        email,
        firstName: 'Bench',
        lastName: 'Shopper',
        enabled: true,
        emailVerified: true,
        requiredActions: [],
        credentials: [{ type: 'password', value: password, temporary: false }],
      }),
    })
    if (!res.ok) throw new Error(`Keycloak create user: ${res.status} ${await res.text()}`)
    return { email, password }
  }
  async function token(user) {
    const res = await fetch(`${issuer}/protocol/openid-connect/token`, {
      method: 'POST',
      body: new URLSearchParams({
        grant_type: 'password',
        client_id: env.OIDC_CLI_CLIENT_ID || 'flash-sale-cli',
        username: user.email,
        password: user.password,
        scope: 'openid',
      }),
    })
    if (!res.ok) throw new Error(`password grant: ${res.status} ${await res.text()}`)
    const body = await res.json()
    return { token: body.access_token, until: Date.now() + body.expires_in * 1000 }
  }
  return { createUser, token }
}

/** `count` shoppers with tokens valid for at least 20 more minutes; onProgress(done, count). */
export async function shoppers(env, stackDir, count, onProgress = () => {}, concurrency = 12) {
  const kc = keycloakOf(env)
  const file = path.join(stackDir, 'bench-users.json')
  let users = []
  try {
    users = JSON.parse(fs.readFileSync(file, 'utf8'))
  } catch { /* none yet */ }
  const out = []
  let next = 0
  let done = 0
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < count) {
      const i = next++
      let u = users[i]
      if (!u) u = users[i] = await kc.createUser()
      if (!u.token || u.until < Date.now() + 20 * 60_000) Object.assign(u, await kc.token(u))
      out[i] = u
      onProgress(++done, count)
    }
  }))
  fs.writeFileSync(file, JSON.stringify(users))
  fs.chmodSync(file, 0o600)
  return out
}
