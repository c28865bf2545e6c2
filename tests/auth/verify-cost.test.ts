/**
 * What a bearer token costs the web process (docs/decisions.md, "Verified tokens cached":
 * an RS256 check per new token, a map lookup per cached one): the first use of each distinct real Keycloak token, then repeated use.
 * Prints the numbers; the bounds are loose so the test only fails on a real regression.
 */
import { expect, it } from 'vitest'
import { createUser, passwordGrant } from '../support/keycloak'

it('first use of a token costs one RSA check; repeated use is a cache hit', async () => {
  const { verifyAccessToken } = await import('../../server/auth/jwt')
  // 20 users × 10 sign-ins, one at a time: Keycloak's brute-force protection may lock out a user
  // signing in many times in a burst (user_temporarily_disabled), so a refused grant is skipped
  const tokens: string[] = []
  for (let u = 0; u < 20; u++) {
    const user = await createUser()
    for (let i = 0; i < 10; i++) {
      const t = await passwordGrant(user).catch(() => undefined)
      if (t) tokens.push(t.access_token)
    }
  }
  expect(tokens.length).toBeGreaterThan(50)
  expect(new Set(tokens).size).toBe(tokens.length)
  await verifyAccessToken(tokens.pop()!) // loads the realm's keys

  let t0 = process.hrtime.bigint()
  for (const token of tokens) await verifyAccessToken(token)
  const firstUseUs = Number(process.hrtime.bigint() - t0) / 1000 / tokens.length

  const rounds = 200_000
  t0 = process.hrtime.bigint()
  for (let i = 0; i < rounds; i++) await verifyAccessToken(tokens[i % tokens.length]!)
  const cachedUs = Number(process.hrtime.bigint() - t0) / 1000 / rounds

  console.log(`bearer verification: first use ${firstUseUs.toFixed(1)} µs/token (${tokens.length} distinct tokens), cached ${cachedUs.toFixed(2)} µs/call`)
  expect(firstUseUs).toBeLessThan(1_000)
  expect(cachedUs).toBeLessThan(10)
})

it('a signed-in session cookie is unsealed once, then served from the cache', async () => {
  const { sealSession } = await import('h3')
  const { identityOfSessionCookie, resetSessionCache, sessionOptions } = await import('../../server/auth/session')
  const cookies: string[] = []
  for (let i = 0; i < 200; i++) {
    const data = {
      user: { sub: `sub-${i}`, email: `u${i}@example.com`, isAdmin: false },
      sid: `sid-${i}`,
      exp: Date.now() / 1000 + 3600,
      loggedInAt: 0,
    }
    cookies.push(
      await sealSession(
        { context: { sessions: { 'nuxt-session': { id: `id-${i}`, createdAt: Date.now(), data } } } } as never,
        sessionOptions(3600),
      ),
    )
  }
  resetSessionCache()
  let t0 = process.hrtime.bigint()
  for (const c of cookies) expect(await identityOfSessionCookie(c)).toMatchObject({ email: expect.stringMatching(/^u\d+@/) })
  const firstUs = Number(process.hrtime.bigint() - t0) / 1000 / cookies.length
  const rounds = 200_000
  t0 = process.hrtime.bigint()
  for (let i = 0; i < rounds; i++) await identityOfSessionCookie(cookies[i % cookies.length]!)
  const cachedUs = Number(process.hrtime.bigint() - t0) / 1000 / rounds
  console.log(`session cookie: first unseal ${firstUs.toFixed(1)} µs, cached ${cachedUs.toFixed(2)} µs/call`)
  expect(cachedUs).toBeLessThan(10)
})
