/**
 * No known secret in production: the values a copy of the repository shows (compose's former
 * fallbacks, the manifests' placeholders) stop start-up, compose has no fallback for any secret, and
 * its Keycloak runs in production mode with its own admin secret.
 */
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import * as yaml from 'js-yaml'
import { parseConfig } from '../../server/config'
import { startWeb } from '../support/processes'

const base = {
  NODE_ENV: 'production',
  DATABASE_URL: 'mysql://flash:pw@mariadb:3306/flash_sale',
  REDIS_URL: 'redis://redis:6379',
  KAFKA_BROKERS: 'kafka:9092',
  OIDC_ISSUER: 'https://id.example.org/realms/flash-sale',
  OIDC_WEB_CLIENT_SECRET: 'k3y-Bq0x7uW2m9Zr4TfVh1sLpN8cYe6D',
  SESSION_PASSWORD: 'Zp4k9vQ2rT7wX1yB6nM3sD8fG5hJ0cL2aE9uR4tY',
}
type Parsed = ReturnType<typeof JSON.parse>

describe('secrets in production', () => {
  it('refuses the session secrets this repository has shown, and accepts a generated one', () => {
    const secret = yaml.load(readFileSync('deploy/k8s/secret.yaml', 'utf8')) as { stringData: Record<string, string> }
    const known = [
      'dev-only-session-password-change-me-0123456789', // docker-compose.yml's former fallback
      secret.stringData.SESSION_PASSWORD!, // the manifest's placeholder
      'CHANGE-ME-at-least-32-characters-long-random',
      'replace-this-with-a-real-32-character-secret',
    ]
    for (const SESSION_PASSWORD of known) {
      expect(() => parseConfig({ ...base, SESSION_PASSWORD }), SESSION_PASSWORD).toThrow(/SESSION_PASSWORD: must be at least 32 characters in production, and not a default or placeholder/)
    }
    for (const OIDC_WEB_CLIENT_SECRET of ['dev-only-web-client-secret-change-me', secret.stringData.OIDC_WEB_CLIENT_SECRET!]) {
      expect(() => parseConfig({ ...base, OIDC_WEB_CLIENT_SECRET }), OIDC_WEB_CLIENT_SECRET).toThrow(/OIDC_WEB_CLIENT_SECRET/)
    }
    expect(parseConfig(base).SESSION_PASSWORD).toBe(base.SESSION_PASSWORD)
  })

  it('stops a production web instance started with compose\'s former fallback secret', async () => {
    const fallback = 'dev-only-session-password-change-me-0123456789'
    await expect(startWeb({ NODE_ENV: 'production', SESSION_PASSWORD: fallback, NUXT_SESSION_PASSWORD: fallback }))
      .rejects.toThrow(/SESSION_PASSWORD: must be at least 32 characters in production, and not a default or placeholder/)
  }, 60_000)
})

describe('docker-compose.yml', () => {
  const text = readFileSync('docker-compose.yml', 'utf8')
  const settings = text.split('\n').filter((line) => !line.trimStart().startsWith('#')).join('\n')
  const compose = yaml.load(text, { schema: yaml.YAML11_SCHEMA }) as { services: Record<string, Parsed> } // merge keys are YAML 1.1

  it('has no fallback value for any secret: each must be set (${VAR:?…})', () => {
    for (const name of [
      'SESSION_PASSWORD',
      'WEB_CLIENT_SECRET',
      'MYSQL_PASSWORD',
      'MYSQL_ROOT_PASSWORD',
      'KEYCLOAK_ADMIN_PASSWORD',
      'KEYCLOAK_DB_PASSWORD',
    ]) {
      const uses = [...settings.matchAll(new RegExp(`\\$\\{${name}(:?[-?][^}]*)?\\}`, 'g'))].map((m) => m[0])
      expect(uses.length, name).toBeGreaterThan(0)
      for (const use of uses) expect(use, name).toMatch(new RegExp(`^\\$\\{${name}:\\?`))
    }
    expect(text).not.toMatch(/dev-only|change-me/i)
  })

  it('imports a production realm: no demo users, real password hashing, TLS required off the local network — else the development realm\'s', () => {
    const mounted = compose.services.keycloak.volumes.map((v: string) => v.split(':')).find(([, target]: string[]) => target!.startsWith('/opt/keycloak/data/import/'))
    expect(mounted).toBeDefined()
    const realm = JSON.parse(readFileSync(mounted![0]!, 'utf8'))
    expect(realm.users ?? []).toEqual([])
    expect(JSON.stringify(realm)).not.toMatch(/@example\.com/)
    expect(realm.sslRequired).toBe('external')
    const iterations = Number(/hashIterations\((\d+)\)/.exec(realm.passwordPolicy ?? '')?.[1] ?? NaN)
    expect(iterations).toBeGreaterThanOrEqual(210_000) // OWASP's figure for PBKDF2-HMAC-SHA512
    expect(realm.passwordPolicy).toMatch(/hashAlgorithm\(pbkdf2-sha512\)/)
    // everything else (clients, roles, flows, token lifetimes) is the development realm's
    const development = JSON.parse(readFileSync('keycloak/realm-flash-sale.json', 'utf8'))
    const rest = ({ users: _users, sslRequired: _ssl, passwordPolicy: _policy, ...others }: Record<string, unknown>) => others
    expect(rest(realm)).toEqual(rest(development))
  })

  it('runs Keycloak in production mode on its own database, with its own admin secret', () => {
    const keycloak = compose.services.keycloak
    expect(keycloak.command[0]).toBe('start')
    expect(keycloak.command).not.toContain('start-dev')
    expect(keycloak.environment.KC_BOOTSTRAP_ADMIN_PASSWORD).toMatch(/^\$\{KEYCLOAK_ADMIN_PASSWORD:\?/)
    expect(keycloak.environment.KC_DB).toBe('mariadb')
    expect(keycloak.environment.KC_DB_PASSWORD).toMatch(/^\$\{KEYCLOAK_DB_PASSWORD:\?/)
  })
})
