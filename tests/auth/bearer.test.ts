/**
 * Bearer tokens against a real Keycloak and the built app: a flash-sale-cli token works on tRPC and
 * /ws; forged, expired, foreign and misdirected tokens are UNAUTHORIZED everywhere and change nothing;
 * first sight of a subject creates exactly one user; users cannot read others' orders; non-admins are
 * FORBIDDEN on every admin procedure.
 */
import { generateKeyPairSync, sign as rsaSign } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sql } from 'kysely'
import { ulid } from 'ulid'
import { startWeb, type Proc } from '../support/processes'
import { createCouponOnSale, ensureStockLoaded } from '../support/data'
import { closeDb } from '../../server/db'
import { closeRedis } from '../../server/redis/client'
import {
  accessToken, adminApi, adminToken, cliClientId, createClient, createUser, deleteClient, issuer, keycloakUrl, passwordGrant, uniqueEmail,
} from '../support/keycloak'
import { closeTestDb, rowCounts, testDb } from './support'
import { onUpdateAnswer, wsUpgradeStatus } from './ws'
import { call, request } from '../support/api'

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
const decode = (token: string) => {
  const [h, p] = token.split('.')
  return { header: JSON.parse(Buffer.from(h!, 'base64url').toString()), payload: JSON.parse(Buffer.from(p!, 'base64url').toString()) }
}
const signWith = (header: object, payload: object, key: Parameters<typeof rsaSign>[2]) => {
  const data = `${b64(header)}.${b64(payload)}`
  return `${data}.${rsaSign('RSA-SHA256', Buffer.from(data), key).toString('base64url')}`
}

let webA: Proc
let webB: Proc

beforeAll(async () => {
  await testDb()
  await ensureStockLoaded()
  ;[webA, webB] = await Promise.all([startWeb(), startWeb()])
})

afterAll(async () => {
  await Promise.all([webA?.stop(), webB?.stop()])
  await closeTestDb()
  await closeRedis()
  await closeDb()
})

describe('a flash-sale-cli token', () => {
  it('works on tRPC (user.me creates the user with the starting credit) and on /ws', async () => {
    const user = await createUser()
    const token = await accessToken(user)
    const me = await call(webA.url, 'user.me', { batch: true, token })
    expect(me.status, JSON.stringify(me.body)).toBe(200)
    expect(me.data).toMatchObject({ email: user.email, credit: 10_000, isAdmin: false })
    // the same token on the other instance names the same row; unbatched calls work too
    const again = await call(webB.url, 'user.me', { token })
    expect(again.data).toEqual(me.data)
    // on /ws: in connectionParams (what scripts send), or an Authorization header; never in the URL
    expect(await onUpdateAnswer(webA.url, token)).toBe('started')
    expect(await onUpdateAnswer(webB.url, undefined, { authorization: `Bearer ${token}` })).toBe('started')
    expect(await wsUpgradeStatus(webA.url, `?access_token=${token}`)).toBe(400)
  })

  it('of an admin carries the admin role', async () => {
    const admin = await createUser({ roles: ['admin'] })
    const me = await call(webA.url, 'user.me', { batch: true, token: await accessToken(admin) })
    expect(me.data).toMatchObject({ email: admin.email, isAdmin: true })
    const stats = await call(webA.url, 'admin.saleStats', { batch: true, token: await accessToken(admin), input: { couponId: 999_999 } })
    expect(stats.reason).not.toBe('FORBIDDEN')
    expect(stats.reason).not.toBe('UNAUTHORIZED')
  })
})

describe('refused credentials are UNAUTHORIZED everywhere and change nothing', () => {
  const bad: Record<string, string> = {}
  const cleanups: Array<() => Promise<unknown>> = []

  beforeAll(async () => {
    // Each token belongs to a user never seen by the app: accepting one would create a users row.
    const fresh = () => createUser()
    const real = await passwordGrant(await fresh())
    const { header, payload } = decode(real.access_token)

    // A fresh RSA key signs an otherwise perfect token (same kid as the realm's key).
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
    bad['bad signature'] = signWith(header, payload, privateKey)
    // A real token whose payload was edited (made admin) keeps its original signature.
    const parts = real.access_token.split('.')
    bad['edited payload'] = `${parts[0]}.${b64({ ...payload, realm_access: { roles: ['admin'] }, sub: '00000000-0000-0000-0000-000000000000' })}.${parts[2]}`
    bad['alg none'] = `${b64({ alg: 'none', typ: 'JWT' })}.${b64(payload)}.`
    bad['alg none with signature'] = `${b64({ ...header, alg: 'none' })}.${b64(payload)}.${parts[2]}`
    bad['HS256'] = `${b64({ ...header, alg: 'HS256' })}.${b64(payload)}.${parts[2]}`
    bad['garbage'] = 'not-a-jwt'
    // The ID token of the same login (typ ID) is not an access token.
    if (real.id_token) bad['ID token'] = real.id_token

    // A token for another client of the realm (azp is neither flash-sale-web nor flash-sale-cli).
    const thirdId = `fs-third-${ulid().toLowerCase()}`
    const third = await createClient(thirdId)
    cleanups.push(() => deleteClient(third))
    const thirdToken = (await passwordGrant(await fresh(), thirdId)).access_token
    expect(decode(thirdToken).payload).toMatchObject({ azp: thirdId, iss: issuer() })
    bad['another client'] = thirdToken

    // A token from another realm (another issuer) whose client is even called flash-sale-cli.
    const otherRealm = `fs-other-${ulid().toLowerCase()}`
    const otherUser = { email: uniqueEmail('other'), password: 'other-pw' }
    const created = await fetch(`${keycloakUrl()}/admin/realms`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await adminToken()}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        realm: otherRealm,
        enabled: true,
        clients: [{ clientId: cliClientId(), publicClient: true, directAccessGrantsEnabled: true, standardFlowEnabled: false }],
        users: [
          {
            username: otherUser.email,
            email: otherUser.email,
            firstName: 'O',
            lastName: 'Ther',
            enabled: true,
            emailVerified: true,
            requiredActions: [],
            credentials: [{ type: 'password', value: otherUser.password, temporary: false }],
          },
        ],
      }),
    })
    expect(created.status).toBe(201)
    cleanups.push(async () => fetch(`${keycloakUrl()}/admin/realms/${otherRealm}`, { method: 'DELETE', headers: { authorization: `Bearer ${await adminToken()}` } }))
    const otherRes = await fetch(`${keycloakUrl()}/realms/${otherRealm}/protocol/openid-connect/token`, {
      method: 'POST',
      body: new URLSearchParams({
        grant_type: 'password',
        client_id: cliClientId(),
        username: otherUser.email,
        password: otherUser.password,
      }),
    })
    const otherToken = (await otherRes.json()).access_token as string
    expect(decode(otherToken).payload).toMatchObject({ azp: cliClientId() })
    expect(decode(otherToken).payload.iss).not.toBe(issuer())
    bad['another issuer'] = otherToken

    // An expired but genuine token: flash-sale-cli issues 1-second tokens for a moment.
    const [cli] = await adminApi<Array<{ id: string, attributes?: Record<string, string> }>>(`/clients?clientId=${cliClientId()}`)
    await adminApi(`/clients/${cli!.id}`, {
      method: 'PUT',
      body: { ...cli, attributes: { ...cli!.attributes, 'access.token.lifespan': '1' } },
    })
    let expired: string
    try {
      expired = (await passwordGrant(await fresh())).access_token
    } finally {
      // Keycloak merges attributes on update: an empty value removes the override again
      await adminApi(`/clients/${cli!.id}`, {
        method: 'PUT',
        body: { ...cli, attributes: { ...cli!.attributes, 'access.token.lifespan': cli!.attributes?.['access.token.lifespan'] ?? '' } },
      })
    }
    const exp = decode(expired).payload.exp as number
    // and the client is back to the realm's lifespan
    const after = decode((await passwordGrant(await fresh())).access_token).payload
    expect(after.exp - after.iat).toBeGreaterThan(60)
    expect(decode(expired).payload).toMatchObject({ azp: cliClientId(), iss: issuer() })
    // past exp plus the verifier's clock skew (5 s)
    await new Promise((r) => setTimeout(r, Math.max(0, (exp + 6) * 1000 - Date.now())))
    bad['expired'] = expired
  }, 60_000)

  afterAll(async () => {
    for (const cleanup of cleanups) await cleanup().catch(() => {})
  })

  it('on user.me, coupon.list (public), order.purchase, admin.createCoupon and /ws', async () => {
    const before = await rowCounts()
    for (const [name, token] of Object.entries(bad)) {
      for (const { path, send } of [
        request('user.me', { batch: true }),
        request('coupon.list', { batch: true, input: { page: 1 } }),
        request('order.purchase', { batch: true, mutation: true, input: { couponId: 1 } }),
        request('admin.createCoupon', { batch: true, mutation: true, input: { name: 'x', description: 'y', price: 1, stock: 1 } }),
      ]) {
        const res = await send(webA.url, { token })
        expect({ name, path, status: res.status, reason: res.reason }).toEqual({ name, path, status: 401, reason: 'UNAUTHORIZED' })
      }
      expect({ name, ws: await onUpdateAnswer(webB.url, token) }).toEqual({ name, ws: 'UNAUTHORIZED' })
      expect({ name, upgrade: await wsUpgradeStatus(webB.url, '', { authorization: `Bearer ${token}` }) }).toEqual({ name, upgrade: 401 })
    }
    expect(await rowCounts()).toEqual(before)
  })

  it('no token: protected procedures and subscriptions are UNAUTHORIZED, public ones answer', async () => {
    const before = await rowCounts()
    expect((await call(webA.url, 'user.me', { batch: true })).reason).toBe('UNAUTHORIZED')
    expect((await call(webA.url, 'order.purchase', { batch: true, mutation: true, input: { couponId: 1 } })).status).toBe(401)
    expect((await call(webA.url, 'coupon.list', { batch: true, input: { page: 1 } })).status).toBe(200)
    expect(await wsUpgradeStatus(webA.url)).toBe(101) // anonymous sockets may watch stock
    expect(await onUpdateAnswer(webA.url)).toBe('UNAUTHORIZED')
    // a malformed Authorization header is not anonymous
    expect((await call(webA.url, 'coupon.list', { batch: true, headers: { authorization: 'Basic Zm9vOmJhcg==' } })).status).toBe(401)
    expect(await rowCounts()).toEqual(before)
  })
})

describe('users', () => {
  it('two simultaneous first requests of a new subject create exactly one user row', async () => {
    const user = await createUser()
    const token = await accessToken(user)
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => call(i % 2 ? webA.url : webB.url, 'user.me', { batch: true, token })),
    )
    for (const r of results) expect(r.status, JSON.stringify(r.body)).toBe(200)
    expect(new Set(results.map((r) => r.data!.id)).size).toBe(1)
    const db = await testDb()
    const { rows } = await sql<{ n: number, ledger: number }>`
      select count(*) as n,
        (select count(*) from credit_ledger l join users u on u.id = l.user_id where u.sub = ${user.id} and l.kind = 'STARTING') as ledger
      from users where sub = ${user.id}`.execute(db)
    expect({ users: Number(rows[0]!.n), startingRows: Number(rows[0]!.ledger) }).toEqual({ users: 1, startingRows: 1 })
  })

  it('a user cannot read another user\'s order (NOT_FOUND)', async () => {
    const [alice, bob] = await Promise.all([createUser(), createUser()])
    const [aliceToken, bobToken] = await Promise.all([accessToken(alice), accessToken(bob)])
    await call(webA.url, 'user.me', { batch: true, token: aliceToken })
    await call(webA.url, 'user.me', { batch: true, token: bobToken })
    // A real order (reserved through the app; the payment may still be pending), not a forged row:
    // the audit of later tests checks every order in the database.
    const couponId = await createCouponOnSale({ stock: 1, price: 100 })
    const bought = await call(webA.url, 'order.purchase', { batch: true, token: aliceToken, mutation: true, input: { couponId } })
    expect(bought.status, JSON.stringify(bought.body)).toBe(200)
    const orderId = bought.data!.orderId
    const mine = await call(webA.url, 'order.get', { batch: true, token: aliceToken, input: { orderId } })
    expect(mine.status, JSON.stringify(mine.body)).toBe(200)
    expect(mine.data).toMatchObject({ orderId, couponId, price: 100 })
    const theirs = await call(webA.url, 'order.get', { batch: true, token: bobToken, input: { orderId } })
    expect({ status: theirs.status, reason: theirs.reason }).toEqual({ status: 404, reason: 'NOT_FOUND' })
  })

  it('a non-admin is FORBIDDEN on every admin procedure, and nothing changes', async () => {
    const user = await createUser()
    const token = await accessToken(user)
    const me = (await call(webA.url, 'user.me', { batch: true, token })).data!
    const before = await rowCounts()
    const calls = [
      request('admin.createCoupon', { batch: true, mutation: true, input: { name: 'Forbidden', description: 'no', price: 100, stock: 5 } }),
      request('admin.updateCoupon', { batch: true, mutation: true, input: { id: 1, stockDelta: 1000 } }),
      request('admin.grantCredit', { batch: true, mutation: true, input: { userId: me.id, amount: 1_000_000 } }),
      request('admin.saleStats', { batch: true, input: { couponId: 1 } }),
    ]
    for (const { path, send } of calls) {
      const res = await send(webA.url, { token })
      expect({ path, status: res.status, reason: res.reason }).toEqual({ path, status: 403, reason: 'FORBIDDEN' })
      // anonymous: UNAUTHORIZED
      const anon = await send(webA.url)
      expect({ path, status: anon.status }).toEqual({ path, status: 401 })
    }
    expect(await rowCounts()).toEqual(before)
    expect((await call(webA.url, 'user.me', { batch: true, token })).data!.credit).toBe(me.credit)
  })
})
