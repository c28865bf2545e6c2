/**
 * The realm's signing keys (no Keycloak needed: a fake issuer on loopback serves the discovery document
 * and JWKS): keys are cached, an unknown `kid` refetches them (key rotation) at most once per 10 s and
 * once for many concurrent requests, and a cached token still expires at its `exp`; a cached token's
 * signature put under other claims is refused.
 */
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import { once } from 'node:events'
import { afterAll, beforeAll, expect, it, vi } from 'vitest'

let server: Server
let issuer: string
const published: Array<{ kid: string, key: KeyObject }> = []
const fetches = { discovery: 0, jwks: 0 }

const newKey = (kid: string) => ({ kid, ...generateKeyPairSync('rsa', { modulusLength: 2048 }) })
const k1 = newKey('k1')
const k2 = newKey('k2')
const k3 = newKey('k3')

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url')
function token(key: { kid: string, privateKey: KeyObject }, claims: Record<string, unknown> = {}) {
  const now = Math.floor(Date.now() / 1000)
  const payload = {
    iss: issuer,
    sub: `sub-${Math.random()}`,
    azp: 'flash-sale-cli',
    typ: 'Bearer',
    iat: now,
    exp: now + 3600,
    email: 'a@example.com',
    ...claims,
  }
  const data = `${b64({ alg: 'RS256', typ: 'JWT', kid: key.kid })}.${b64(payload)}`
  return `${data}.${sign('RSA-SHA256', Buffer.from(data), key.privateKey).toString('base64url')}`
}

beforeAll(async () => {
  server = createServer((req, res) => {
    res.setHeader('content-type', 'application/json')
    if (req.url?.endsWith('/.well-known/openid-configuration')) {
      fetches.discovery++
      res.end(JSON.stringify({ issuer, jwks_uri: `${issuer}/protocol/openid-connect/certs` }))
    } else if (req.url?.endsWith('/certs')) {
      fetches.jwks++
      res.end(JSON.stringify({
        keys: [
          // an encryption key is never used for signatures
          { ...k3.publicKey.export({ format: 'jwk' }), kid: 'k3', use: 'enc', alg: 'RSA-OAEP' },
          ...published.map(({ kid, key }) => ({ ...key.export({ format: 'jwk' }), kid, use: 'sig', alg: 'RS256' })),
        ],
      }))
    } else {
      res.statusCode = 404
      res.end('{}')
    }
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  issuer = `http://127.0.0.1:${(server.address() as { port: number }).port}/realms/fake`
  process.env.OIDC_ISSUER = issuer
  process.env.OIDC_WEB_CLIENT_ID = 'flash-sale-web'
  process.env.OIDC_CLI_CLIENT_ID = 'flash-sale-cli'
  published.push({ kid: 'k1', key: k1.publicKey })
})

afterAll(() => {
  vi.useRealTimers()
  server?.close()
})

it('caches keys, refetches on rotation at most every 10 s, and expires cached tokens', async () => {
  const { verifyAccessToken } = await import('../../server/auth/jwt')
  vi.useFakeTimers({ toFake: ['Date'] })

  await expect(verifyAccessToken(token(k1))).resolves.toMatchObject({ email: 'a@example.com', isAdmin: false })
  await expect(verifyAccessToken(token(k1, { realm_access: { roles: ['admin'] } }))).resolves.toMatchObject({ isAdmin: true })
  expect(fetches).toEqual({ discovery: 1, jwks: 1 })

  // Keycloak rotates to k2 just after our fetch: refused until the 10 s interval has passed …
  published.push({ kid: 'k2', key: k2.publicKey })
  const rotated = token(k2)
  await expect(verifyAccessToken(rotated)).rejects.toMatchObject({ reason: 'UNAUTHORIZED' })
  expect(fetches.jwks).toBe(1)
  // … then one refetch serves many concurrent requests
  vi.setSystemTime(Date.now() + 11_000)
  const many = await Promise.all(Array.from({ length: 20 }, () => verifyAccessToken(token(k2))))
  expect(many).toHaveLength(20)
  await expect(verifyAccessToken(rotated)).resolves.toBeTruthy()
  expect(fetches.jwks).toBe(2)

  // an unknown kid (or the encryption key's) never causes more than one fetch per interval
  vi.setSystemTime(Date.now() + 11_000)
  const unknown = await Promise.allSettled(
    Array.from({ length: 20 }, (_, i) => verifyAccessToken(token({ kid: i % 2 ? 'k3' : 'nope', privateKey: k3.privateKey }))),
  )
  expect(unknown.every((r) => r.status === 'rejected')).toBe(true)
  expect(fetches.jwks).toBe(3)

  // a verified token is cached, but never beyond its exp (+5 s skew)
  const shortLived = token(k1, { exp: Math.floor(Date.now() / 1000) + 2 })
  await expect(verifyAccessToken(shortLived)).resolves.toBeTruthy()
  vi.setSystemTime(Date.now() + 8_000)
  await expect(verifyAccessToken(shortLived)).rejects.toMatchObject({ reason: 'UNAUTHORIZED', message: expect.stringContaining('expired') })

  // wrong audience / issuer / type with a valid signature
  for (const claims of [
    { azp: 'someone-else' },
    { iss: `${issuer}x` },
    { typ: 'ID' },
    { typ: 'Refresh' },
    { sub: '' },
    { exp: undefined },
    { nbf: Math.floor(Date.now() / 1000) + 60 },
  ]) {
    await expect(verifyAccessToken(token(k1, claims)), JSON.stringify(claims)).rejects.toMatchObject({ reason: 'UNAUTHORIZED' })
  }
  expect(fetches.discovery).toBe(1)
})

it('refuses a cached token\'s signature under other claims, and keeps the cached token', async () => {
  const { verifyAccessToken } = await import('../../server/auth/jwt')
  const shopper = token(k1, { sub: 'shopper', email: 'shopper@example.com' })
  await expect(verifyAccessToken(shopper)).resolves.toMatchObject({ sub: 'shopper', isAdmin: false })

  // the same header and signature around claims that make the bearer an admin, then another subject
  const [header, , signature] = shopper.split('.')
  const claims = JSON.parse(Buffer.from(shopper.split('.')[1]!, 'base64url').toString('utf8'))
  for (const forged of [{ ...claims, realm_access: { roles: ['admin'] } }, { ...claims, sub: 'someone-else' }]) {
    const copy = `${header}.${b64(forged)}.${signature}`
    const badSignature = { reason: 'UNAUTHORIZED', message: expect.stringContaining('bad signature') }
    await expect(verifyAccessToken(copy)).rejects.toMatchObject(badSignature)
    await expect(verifyAccessToken(copy)).rejects.toMatchObject({ reason: 'UNAUTHORIZED' })
  }
  await expect(verifyAccessToken(shopper)).resolves.toMatchObject({ sub: 'shopper', isAdmin: false })
})
