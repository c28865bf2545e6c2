/**
 * Browser sessions: the page to come back to after sign-in never leads to another site, and signing
 * out ends the session on the server, on every instance, within a second — a cookie copied before
 * sign-out stops working there, and sockets opened with it are closed.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { closeDb } from '../../server/db'
import { closeRedis } from '../../server/redis/client'
import { refusalBody } from '../../server/trpc/errors'
import { signInWithoutBrowser, startAuthWeb, type AuthWeb } from '../auth/support'
import { eventually } from '../support/data'
import { testStack } from '../faults/support'
import { createUser, type TestUser } from '../support/keycloak'
import { startWeb, type Proc } from '../support/processes'
import { call, subscribeMessage } from '../support/api'

let a: AuthWeb
let b: Proc
let user: TestUser

beforeAll(async () => {
  a = await startAuthWeb()
  ;[b, user] = await Promise.all([startWeb({ PUBLIC_URL: a.publicUrl }), createUser()])
}, 120_000)

afterAll(async () => {
  await b?.stop()
  await a?.stop()
  await closeRedis()
  await closeDb()
})

describe('the return path after sign-in', () => {
  const evil = [
    '/%09/evil.example', '/%0A/evil.example', '/%0D%0A//evil.example', '/%5C%5Cevil.example', '/%5Cevil.example',
    '//evil.example', '/.//evil.example', '/%2F%2Fevil.example', 'https://evil.example/', '/\\\\evil.example',
  ]

  for (const route of ['/auth/login', '/auth/register']) {
    it(`never sends the browser to another site from ${route} (checked after URL parsing), also when sign-in is cancelled`, async () => {
      const origin = new URL(a.publicUrl).origin
      for (const returnTo of evil) {
        const start = await fetch(`${a.publicUrl}${route}?returnTo=${returnTo}`, { redirect: 'manual' })
        expect(start.status).toBe(302)
        const flow = start.headers.getSetCookie().find((c) => c.startsWith('fs-oidc='))!.split(';')[0]!
        // Keycloak sends the browser back with ?error= when the shopper cancels: the error branch
        const back = await fetch(`${a.publicUrl}/auth/keycloak/callback?error=access_denied`, { redirect: 'manual', headers: { cookie: flow } })
        expect(back.status).toBe(302)
        const location = new URL(back.headers.get('location')!, a.publicUrl)
        expect({ returnTo, origin: location.origin, href: location.href }).toEqual({ returnTo, origin, href: `${origin}/` })
      }
      // a local path (with its query and fragment) is kept
      const start = await fetch(`${a.publicUrl}${route}?returnTo=${encodeURIComponent('/coupons/7?from=list#buy')}`, { redirect: 'manual' })
      const flow = start.headers.getSetCookie().find((c) => c.startsWith('fs-oidc='))!.split(';')[0]!
      const back = await fetch(`${a.publicUrl}/auth/keycloak/callback?error=access_denied`, { redirect: 'manual', headers: { cookie: flow } })
      expect(back.headers.get('location')).toBe(`${origin}/coupons/7?from=list#buy`)
    })
  }
})

describe('sign-in refusals', () => {
  it('answer in the one error body, and as a short page with the same message to a browser', async () => {
    const expired = 'Your sign-in took too long or was started in another browser'
    const json = await fetch(`${a.publicUrl}/auth/keycloak/callback?code=x&state=y`, { redirect: 'manual', headers: { accept: 'application/json' } })
    expect({ status: json.status, body: await json.json() }).toEqual({ status: 400, body: refusalBody('INVALID_INPUT', expired) })
    const page = await fetch(`${a.publicUrl}/auth/keycloak/callback?code=x&state=y`, { redirect: 'manual', headers: { accept: 'text/html' } })
    expect(page.status).toBe(400)
    expect(page.headers.get('content-type')).toMatch(/^text\/html/)
    expect(await page.text()).toContain(expired)
  })
})

describe('sign-out', () => {
  it('ends the session on every instance within a second, and closes its sockets', async () => {
    const cookie = await signInWithoutBrowser(a.publicUrl, user)
    expect((await call(a.publicUrl, 'user.me', { batch: true, cookie })).status).toBe(200)
    expect((await call(b.url, 'user.me', { batch: true, cookie })).status).toBe(200)
    const socket = new WebSocket(`${b.url.replace('http', 'ws')}/ws`, { headers: { cookie } })
    await new Promise((resolve, reject) => { socket.once('open', resolve); socket.once('error', reject) })
    socket.send(subscribeMessage(1, 'order.onUpdate'))
    await new Promise((resolve) => socket.once('message', resolve)) // started
    const closed = new Promise<number>((resolve) => socket.once('close', resolve))

    const out = await fetch(`${a.publicUrl}/auth/logout`, { redirect: 'manual', headers: { cookie } })
    expect(out.status).toBe(302)
    const signedOutAt = Date.now()
    // the copied cookie, replayed on the other instance
    let status = 200
    while (status === 200 && Date.now() - signedOutAt < 3_000) {
      status = (await call(b.url, 'user.me', { batch: true, cookie })).status
      if (status === 200) await sleep(50)
    }
    const tookMs = Date.now() - signedOutAt
    expect(status).toBe(401)
    expect(tookMs).toBeLessThan(1_000)
    expect((await call(a.publicUrl, 'user.me', { batch: true, cookie })).status).toBe(401)
    expect(await fetch(`${b.url}/api/_auth/session`, { headers: { cookie } }).then((r) => r.json())).toEqual({})
    expect(await closed).toBe(4401)

    // signing in again makes a new session that works
    const again = await signInWithoutBrowser(a.publicUrl, user)
    expect((await call(b.url, 'user.me', { batch: true, cookie: again })).status).toBe(200)
  }, 60_000)
})

describe('one spelling per session', () => {
  it('reads the session cookie only as it was set: a quoted or percent-encoded copy is no session', async () => {
    const cookie = await signInWithoutBrowser(a.publicUrl, user)
    const seal = cookie.slice(cookie.indexOf('=') + 1)
    expect((await call(b.url, 'user.me', { batch: true, cookie })).status).toBe(200)
    for (const respelled of [`nuxt-session="${seal}"`, `nuxt-session=%46${seal.slice(1)}`]) {
      const res = await call(b.url, 'user.me', { batch: true, cookie: respelled })
      expect({ status: res.status, reason: res.reason }).toEqual({ status: 401, reason: 'UNAUTHORIZED' })
    }
  })
})

describe('revocation while Redis cannot be reached', () => {
  it('fails closed: every session is refused TRY_AGAIN_LATER (none accepted, none signed out) until Redis answers again', async () => {
    const copied = await signInWithoutBrowser(a.publicUrl, user)
    const live = await signInWithoutBrowser(a.publicUrl, user)
    expect((await fetch(`${a.publicUrl}/auth/logout`, { redirect: 'manual', headers: { cookie: copied } })).status).toBe(302)

    const stack = testStack()
    await stack.stopService('redis')
    let answers: { status: number, reason?: string, retryAfter: string | null }[]
    try {
      expect(stack.processes().redis).toBeUndefined() // really away
      answers = await Promise.all([copied, live].map(async (cookie) => {
        const res = await call(b.url, 'user.me', { batch: true, cookie })
        return { status: res.status, reason: res.reason, retryAfter: res.headers.get('retry-after') }
      }))
    } finally {
      await stack.startService('redis')
    }
    // the signed-out copy is not let back in, and the live session is not ended
    expect(answers).toEqual([
      { status: 503, reason: 'TRY_AGAIN_LATER', retryAfter: '1' },
      { status: 503, reason: 'TRY_AGAIN_LATER', retryAfter: '1' },
    ])
    await eventually(async () => (await call(b.url, 'user.me', { batch: true, cookie: live })).status === 200, 20_000, 200)
    expect((await call(b.url, 'user.me', { batch: true, cookie: copied })).status).toBe(401)
  }, 60_000)
})
