/**
 * What a bearer token costs the web process (PERFORMANCE.md: RS256 with node:crypto ≈ 45 µs, a cached
 * token ≈ 0.1 µs): the first use of each distinct real Keycloak token, then repeated use.
 * Prints the numbers; the bounds are loose so the test only fails on a real regression.
 */
import { expect, it } from 'vitest'
import { createUser, passwordGrant } from '../support/keycloak'

it('first use of a token costs one RSA check; repeated use is a cache hit', async () => {
  const { verifyAccessToken } = await import('../../server/auth/jwt')
  const user = await createUser()
  const tokens: string[] = []
  // one at a time: Keycloak may refuse concurrent logins of one user (brute-force protection)
  for (let i = 0; i < 200; i++) tokens.push((await passwordGrant(user)).access_token)
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
