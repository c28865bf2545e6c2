/**
 * A web instance whose identity provider is a fake issuer on loopback (it signs its own tokens): while
 * the realm cannot be reached its keys are fetched again at most once a second (and an unknown key id at
 * most once per 10 s, failed fetches counted too), the refusal names no internal address, and a socket
 * lives no longer than its token.
 */
import { generateKeyPairSync, sign } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import { once } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, expect, it } from 'vitest'
import WebSocket from 'ws'
import { closeDb } from '../../server/db'
import { closeRedis } from '../../server/redis/client'
import { startWeb, type Proc } from '../support/processes'
import { closeAgents, send } from './support'
import { procedureUrl, subscribeMessage } from '../support/api'

let issuerServer: Server
let issuer: string
let up = false
const fetches = { discovery: 0, jwks: 0 }
const key = generateKeyPairSync('rsa', { modulusLength: 2048 })
let web: Proc

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url')
function token(claims: Record<string, unknown> = {}, kid = 'k1') {
  const now = Math.floor(Date.now() / 1000)
  const payload = {
    iss: issuer,
    sub: `idp-test-${Math.random()}`,
    azp: 'flash-sale-cli',
    typ: 'Bearer',
    iat: now,
    exp: now + 3600,
    email: `idp-${Math.random()}@example.test`,
    ...claims,
  }
  const data = `${b64({ alg: 'RS256', typ: 'JWT', kid })}.${b64(payload)}`
  return `${data}.${sign('RSA-SHA256', Buffer.from(data), key.privateKey).toString('base64url')}`
}

beforeAll(async () => {
  issuerServer = createServer((req, res) => {
    res.setHeader('content-type', 'application/json')
    if (!up) {
      res.statusCode = 500
      res.end('{"error":"down"}')
    } else if (req.url?.endsWith('/.well-known/openid-configuration')) {
      res.end(JSON.stringify({ issuer, jwks_uri: `${issuer}/protocol/openid-connect/certs` }))
    } else if (req.url?.endsWith('/certs')) {
      res.end(JSON.stringify({ keys: [{ ...key.publicKey.export({ format: 'jwk' }), kid: 'k1', use: 'sig', alg: 'RS256' }] }))
    } else {
      res.statusCode = 404
      res.end('{}')
    }
    if (req.url?.includes('openid-configuration')) fetches.discovery++
    if (req.url?.endsWith('/certs')) fetches.jwks++
  })
  issuerServer.listen(0, '127.0.0.1')
  await once(issuerServer, 'listening')
  issuer = `http://127.0.0.1:${(issuerServer.address() as { port: number }).port}/realms/internal-only`
  web = await startWeb({ OIDC_ISSUER: issuer })
}, 60_000)

afterAll(async () => {
  closeAgents()
  await web?.stop()
  issuerServer?.close()
  await closeRedis()
  await closeDb()
})

const me = (t: string) => send(procedureUrl(web.url, 'user.me'), { headers: { authorization: `Bearer ${t}` } })

it('asks a realm that is down for its keys at most about once a second, and tells the client no internal address', async () => {
  up = false
  const before = fetches.discovery + fetches.jwks
  const started = Date.now()
  const answers = []
  for (let i = 0; i < 30; i++) answers.push(await me(token()))
  const seconds = (Date.now() - started) / 1000
  for (const a of answers) {
    expect(a.status).toBe(503)
    expect(a.json?.error?.data?.reason).toBe('TRY_AGAIN_LATER')
    expect(a.headers['retry-after']).toBe('1')
    expect(a.text).not.toContain('127.0.0.1')
    expect(a.text).not.toContain('internal-only')
  }
  expect(fetches.discovery + fetches.jwks - before).toBeLessThanOrEqual(Math.ceil(seconds) + 1)
})

it('counts a failed refetch for an unknown key id against the 10 s interval too', async () => {
  up = true
  await sleep(1_100) // past the retry pause of the previous test
  expect((await me(token())).status).toBe(200) // keys loaded
  up = false
  await sleep(10_500) // the interval has passed: the next unknown kid may refetch once
  const before = fetches.discovery + fetches.jwks
  for (let i = 0; i < 20; i++) expect((await me(token({}, `rotated-${i}`))).status).toBe(401)
  expect(fetches.discovery + fetches.jwks - before).toBeLessThanOrEqual(2) // one attempt (discovery is cached)
  expect((await me(token())).status).toBe(200) // the key set in hand still serves
}, 30_000)

it('closes a socket when its token expires', async () => {
  up = true
  const exp = Math.floor(Date.now() / 1000) + 3
  const socket = new WebSocket(`${web.url.replace('http', 'ws')}/ws?connectionParams=1`)
  const closed = new Promise<{ code: number, at: number }>((resolve) => socket.once('close', (code) => resolve({ code, at: Date.now() })))
  await new Promise((resolve, reject) => { socket.once('open', resolve); socket.once('error', reject) })
  socket.send(JSON.stringify({ method: 'connectionParams', data: { token: token({ exp }) } }))
  socket.send(subscribeMessage(1, 'order.onUpdate'))
  await new Promise((resolve) => socket.once('message', resolve)) // started
  const { code, at } = await closed
  expect(code).toBe(4401)
  // after exp (+5 s of tolerated clock skew), within one re-check period
  expect(at / 1000).toBeGreaterThanOrEqual(exp + 5)
  expect(at / 1000).toBeLessThan(exp + 5 + 3)
}, 20_000)
