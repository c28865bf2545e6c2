/**
 * NGINX as `npm start` renders it, with TLS, in front of a web instance: what the public entrance
 * refuses (internal paths, malformed tRPC paths, oversized bodies) and adds (HTTPS, HSTS, CSP,
 * per-credential rate limits, token-free logs), and that NGINX's refusals are the app's one refusal
 * body.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { closeDb } from '../../server/db'
import { closeRedis } from '../../server/redis/client'
import { REASON_CODES, refusalBody } from '../../server/trpc/errors'
import type { Reason } from '../../server/domain/errors'
import { freePort, startWeb, type Proc } from '../support/processes'
import { createUser, accessToken } from '../support/keycloak'
import { createShoppers, type Shopper } from '../support/shoppers'
import { closeAgents, selfSignedCertificate, send, startNginx, type Nginx } from './support'

const dir = mkdtempSync(join(tmpdir(), 'flash-edge-'))
let web: Proc
let nginx: Nginx
let https: string
let tlsPort: number
let shopper: Shopper
let adminToken: string

beforeAll(async () => {
  const [started, shoppers, admin] = await Promise.all([
    startWeb({ UPLOAD_DIR: join(dir, 'uploads') }),
    createShoppers(1),
    createUser({ roles: ['admin'] }).then(accessToken),
  ])
  web = started
  shopper = shoppers[0]!
  adminToken = admin
  tlsPort = await freePort()
  nginx = await startNginx([web], { ...selfSignedCertificate(dir), tlsPort })
  https = `https://127.0.0.1:${tlsPort}`
}, 120_000)

afterAll(async () => {
  closeAgents()
  await nginx?.stop()
  await web?.stop()
  await closeRedis()
  await closeDb()
  rmSync(dir, { recursive: true, force: true })
})

const reasonOf = (json: unknown) => (json as { error?: { data?: { reason?: string } } } | undefined)?.error?.data?.reason

describe('what the public entrance never serves', () => {
  it('answers /metrics and /readyz with 404 however the path is spelled, while each instance still serves them', async () => {
    expect((await send(`${web.url}/metrics/`)).status).toBe(200) // the app itself is lenient about the slash
    for (const path of [
      '/metrics',
      '/metrics/',
      '/metrics//',
      '/Metrics',
      '/METRICS/',
      '/metrics/x',
      '/%6Detrics',
      '/metrics?x=1',
      '//metrics',
      '/readyz',
      '/readyz/',
      '/ReadyZ',
    ]) {
      const res = await send(`${https}${path}`)
      expect({ path, status: res.status, byNginx: res.byNginx, reason: reasonOf(res.json) }).toEqual({
        path,
        status: 404,
        byNginx: true,
        reason: 'NOT_FOUND',
      })
      expect(res.text).not.toContain('flash_')
    }
  })

  it('refuses a tRPC path that is percent-encoded or outside the path rule, at NGINX and at the app alike', async () => {
    const paths = ['x%2F,order.purchase?batch=1', '%E0', 'order%2Epurchase', 'order.purchase%00', 'a/b', 'order.purchase;x', '']
    for (const path of paths) {
      for (const base of [https, web.url]) {
        const res = await send(`${base}/api/trpc/${path}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${shopper.token}` },
          body: '{"0":{"couponId":1}}',
        })
        expect({ path, base, status: res.status, reason: reasonOf(res.json) }).toEqual({ path, base, status: 400, reason: 'INVALID_INPUT' })
        expect(res.byNginx).toBe(base === https)
      }
    }
    // the rule lets the app's own calls through, batches included
    expect((await send(`${https}/api/trpc/system.ping,coupon.list?batch=1&input=${encodeURIComponent('{}')}`)).status).toBe(200)
  })
})

describe('what the public entrance adds', () => {
  it('redirects plain HTTP to HTTPS and sends HSTS on every HTTPS answer, the app\'s, its own and the assets\'', async () => {
    const plain = await send(`${nginx.url}/coupons/1?x=1`)
    expect(plain.status).toBe(301)
    expect(plain.headers.location).toBe(`https://127.0.0.1:${tlsPort}/coupons/1?x=1`)
    for (const path of ['/', '/api/trpc/system.ping', '/_nuxt/does-not-exist.js', '/metrics/', '/api/trpc/%E0']) {
      const res = await send(`${https}${path}`)
      expect({ path, hsts: res.headers['strict-transport-security'] }).toEqual({ path, hsts: 'max-age=31536000; includeSubDomains' })
      expect(res.headers['x-content-type-options']).toBe('nosniff')
    }
  })

  it('serves pages with the app\'s Content-Security-Policy (no inline script without its hash) and JSON with the strictest one', async () => {
    const page = await send(`${https}/`)
    const csp = String(page.headers['content-security-policy'])
    expect(csp).toMatch(/script-src 'self'( 'sha256-[A-Za-z0-9+/=]+')*;/)
    expect(csp).not.toMatch(/script-src[^;]*unsafe-inline/)
    expect(csp).toContain("frame-ancestors 'none'")
    const json = await send(`${https}/api/trpc/system.ping`)
    expect(json.headers['content-security-policy']).toBe("default-src 'none'; frame-ancestors 'none'; base-uri 'none'")
  })

  it('keeps bearer tokens out of the logs', async () => {
    // a socket carries its token in its first message (connectionParams), never in the URL
    const socket = new WebSocket(`wss://127.0.0.1:${tlsPort}/ws?connectionParams=1`, { rejectUnauthorized: false })
    await new Promise((resolve, reject) => { socket.once('open', resolve); socket.once('error', reject) })
    socket.send(JSON.stringify({ method: 'connectionParams', data: { token: shopper.token } }))
    socket.send(JSON.stringify({ id: 1, method: 'subscription', params: { path: 'order.onUpdate' } }))
    expect(JSON.parse(String(await new Promise((resolve) => socket.once('message', resolve))))).toMatchObject({
      id: 1,
      result: { type: 'started' },
    })
    socket.close()
    // a client that still puts it in the URL is refused by the app, and its query string is not logged
    const inUrl = await send(`${https}/ws?access_token=${shopper.token}`, { headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' } })
    expect({ status: inUrl.status, reason: reasonOf(inUrl.json) }).toEqual({ status: 400, reason: 'INVALID_INPUT' })
    await send(`${https}/api/trpc/user.me?input=${encodeURIComponent(JSON.stringify({ token: shopper.token }))}`, { headers: { authorization: `Bearer ${shopper.token}` } })
    await sleep(1_500) // the log is buffered and flushed every second
    const log = readFileSync(join(nginx.prefix, 'logs', 'access.log'), 'utf8')
    expect(log).toContain('"GET /ws HTTP/1.1" 101')
    expect(log).toContain('"GET /ws HTTP/1.1" 400')
    expect(log).toContain('GET /api/trpc/user.me HTTP')
    for (const file of ['access.log', 'error.log']) {
      expect(readFileSync(join(nginx.prefix, 'logs', file), 'utf8')).not.toContain(shopper.token.slice(-40))
    }
  })

  it('limits how fast one shopper opens sockets (by the credential it sees: a session cookie or an Authorization header)', async () => {
    const statuses = await Promise.all(Array.from({ length: 12 }, () => new Promise<{ status: number, byNginx: boolean }>((resolve) => {
      const s = new WebSocket(`wss://127.0.0.1:${tlsPort}/ws`, { rejectUnauthorized: false, headers: { authorization: `Bearer ${shopper.token}` } })
      s.once('open', () => { resolve({ status: 101, byNginx: false }); setTimeout(() => s.close(), 200) })
      s.once('unexpected-response', (_req, res) =>
        resolve({ status: res.statusCode ?? 0, byNginx: res.headers['x-refused-by'] === 'nginx' }),
      )
      s.once('error', () => resolve({ status: -1, byNginx: false }))
    })))
    expect(statuses.filter((s) => s.status === 429 && s.byNginx).length).toBeGreaterThan(0)
    expect(statuses.filter((s) => s.status >= 500 || s.status < 0)).toEqual([])
    await sleep(1_500) // the access log is flushed every second
    const access = readFileSync(join(nginx.prefix, 'logs', 'access.log'), 'utf8')
    expect(access).toMatch(/"GET \/ws HTTP\/1\.1" 429/)
    for (const log of ['access.log', 'error.log']) {
      expect(readFileSync(join(nginx.prefix, 'logs', log), 'utf8')).not.toContain(shopper.token.slice(-40))
    }
  })
})

describe('who is asking (per-credential rate-limit keys)', () => {
  // One purchase a second (burst 1) per shopper, and per address for anonymous writes: the third
  // request of a key inside a second is NGINX's 429.
  let strict: Nginx
  beforeAll(async () => {
    strict = await startNginx([web], { purchaseRate: 1, purchaseBurst: 1, anonymousWriteRate: 1, anonymousWriteBurst: 1 })
  })
  afterAll(async () => {
    await strict?.stop()
  })
  const buy = (from: string, headers: Record<string, string>) =>
    send(`${strict.url}/api/trpc/order.purchase`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: '{"couponId":1}',
      from,
    })
  const nginxRefused = async (from: string, headers: Record<string, string>) => (await buy(from, headers)).byNginx

  /** The same token with its signature respelled: the last character's unused bits set, or padded. */
  function respelled(token: string) {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
    const last = alphabet[alphabet.indexOf(token.at(-1)!) ^ 1]!
    const unusedBits = token.slice(0, -1) + last
    // the same signature
    expect(Buffer.from(unusedBits.split('.')[2]!, 'base64url')).toEqual(Buffer.from(token.split('.')[2]!, 'base64url'))
    return { unusedBits, padded: `${token}==` }
  }

  it('keys a bearer token on its signature, so respelling it makes no new key; the app refuses the respelled token', async () => {
    const { unusedBits, padded } = respelled(shopper.token)
    const bearer = (token: string) => ({ authorization: `Bearer ${token}` })
    expect([await nginxRefused('127.0.31.1', bearer(shopper.token)), await nginxRefused('127.0.31.1', bearer(shopper.token))]).toEqual([
      false,
      false,
    ])
    expect(await nginxRefused('127.0.31.1', bearer(unusedBits))).toBe(true) // the same key, out of tokens
    // a spelling that is no canonical JWT is no credential: the (spent) anonymous allowance of its address
    expect([await nginxRefused('127.0.31.2', {}), await nginxRefused('127.0.31.2', {})]).toEqual([false, false])
    expect(await nginxRefused('127.0.31.2', bearer(padded))).toBe(true)
    for (const token of [unusedBits, padded]) {
      const res = await send(`${web.url}/api/trpc/user.me`, { headers: bearer(token) })
      expect({ status: res.status, reason: reasonOf(res.json) }).toEqual({ status: 401, reason: 'UNAUTHORIZED' })
    }
  })

  it('keys a session on its seal\'s MAC; a quoted seal is no session (the anonymous allowance)', async () => {
    const seal = `Fe26.2**${'a'.repeat(64)}*${'b'.repeat(22)}*${'c'.repeat(22)}**${'d'.repeat(64)}*${'M'.repeat(43)}`
    expect([await nginxRefused('127.0.31.3', {}), await nginxRefused('127.0.31.3', {})]).toEqual([false, false])
    expect([
      await nginxRefused('127.0.31.3', { cookie: `nuxt-session=${seal}` }),
      await nginxRefused('127.0.31.3', { cookie: `x=1; nuxt-session=${seal}` }),
    ]).toEqual([false, false])
    expect(await nginxRefused('127.0.31.3', { cookie: `nuxt-session="${seal}"` })).toBe(true)
  })
})

describe('body limits that agree', () => {
  const pngOf = (bytes: number) =>
    Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(bytes - 8, 7)])
  const upload = (data: Buffer) => {
    const boundary = 'flash-edge-boundary'
    const body = Buffer.concat([
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="p.png"\r\nContent-Type: image/png\r\n\r\n`),
      data,
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ])
    return send(`${https}/api/upload`, { method: 'POST', headers: { 'content-type': `multipart/form-data; boundary=${boundary}`, authorization: `Bearer ${adminToken}` }, body })
  }

  it('lets a picture the app accepts (up to 2 MB) through NGINX, and refuses a larger one in the one error shape', async () => {
    const ok = await upload(pngOf(1_900_000))
    expect(ok.status).toBe(200)
    expect(ok.json.url).toMatch(/^\/uploads\/[\w-]+\.png$/)
    const tooBig = await upload(pngOf(2_300_000))
    expect(tooBig.status).toBe(413)
    expect(reasonOf(tooBig.json)).toBe('PAYLOAD_TOO_LARGE')
  })

  it('refuses a tRPC body over the app\'s 64 KB input limit at NGINX', async () => {
    const res = await send(`${https}/api/trpc/order.purchase`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${shopper.token}` },
      body: JSON.stringify({ couponId: 1, pad: 'x'.repeat(70_000) }),
    })
    expect({ status: res.status, byNginx: res.byNginx, reason: reasonOf(res.json) }).toEqual({
      status: 413,
      byNginx: true,
      reason: 'PAYLOAD_TOO_LARGE',
    })
  })
})

describe('one refusal body', () => {
  const bodiesIn = (text: string) => [...text.matchAll(/return (\d{3}) '(\{.*\})\\n';/g)].map((m) => ({ status: Number(m[1]), body: JSON.parse(m[2]!) }))

  it('writes out exactly the app\'s refusal bodies in NGINX (npm start\'s templates and compose\'s copy)', () => {
    const template = bodiesIn(readFileSync('nginx/locations.conf.template', 'utf8'))
    const compose = bodiesIn(readFileSync('deploy/compose/nginx/locations.conf', 'utf8'))
    expect(template.map((b) => b.status).sort()).toEqual([400, 404, 405, 413, 429, 503, 504])
    expect(compose).toEqual(template)
    for (const { status, body } of template) {
      const reason = body.error.data.reason as Reason
      // a wrong method is INVALID_INPUT with HTTP's more precise code, as the app answers it
      const code = status === 405 ? 'METHOD_NOT_SUPPORTED' : REASON_CODES[reason]
      expect(code).toBe(body.error.data.code)
      expect(body).toEqual(refusalBody(reason, body.error.message, code))
      expect(body.error.data.httpStatus).toBe(status)
    }
  })

  it('answers the upload handler\'s and the CSRF middleware\'s refusals in the same shape', async () => {
    const anonymous = await send(`${web.url}/api/upload`, {
      method: 'POST',
      headers: { 'content-type': 'multipart/form-data; boundary=x' },
      body: '--x--',
    })
    expect({ status: anonymous.status, body: anonymous.json }).toEqual({ status: 401, body: refusalBody('UNAUTHORIZED', 'Sign in first') })
    const crossSite = await send(`${web.url}/auth/logout`, { method: 'POST', headers: { cookie: 'nuxt-session=anything', origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' } })
    expect({ status: crossSite.status, body: crossSite.json }).toEqual({
      status: 403,
      body: refusalBody('FORBIDDEN', 'Cross-site request refused'),
    })
  })

  it('keeps compose\'s NGINX on the same rules as the rendered one', () => {
    const rules = (text: string) => ({
      zones: [...text.matchAll(/limit_req_zone (\S+)\s+zone=(\w+)/g)].map((m) => `${m[1]} ${m[2]}`).sort(),
      applied: [...text.matchAll(/limit_req zone=(\w+)/g)].map((m) => m[1]).sort(),
    })
    const rendered =
      readFileSync(join(nginx.prefix, 'conf', 'nginx.conf'), 'utf8') + readFileSync(join(nginx.prefix, 'conf', 'locations.conf'), 'utf8')
    const compose = readFileSync('deploy/compose/nginx/nginx.conf', 'utf8') + readFileSync('deploy/compose/nginx/locations.conf', 'utf8')
    expect(rules(compose)).toEqual(rules(rendered))
  })
})
