import { describe, expect, it } from 'vitest'
import { ConfigError, parseConfig, serverIdSetting } from './config'

/** The least a process needs; every other setting has a default. */
const minimal = {
  DATABASE_URL: 'mysql://flash:pw@127.0.0.1:3306/flash_sale',
  REDIS_URL: 'redis://127.0.0.1:6379',
  KAFKA_BROKERS: '127.0.0.1:9092',
  OIDC_ISSUER: 'http://127.0.0.1:8180/realms/flash-sale',
}
const production = {
  ...minimal,
  NODE_ENV: 'production',
  OIDC_WEB_CLIENT_SECRET: 'k3y-Bq0x7uW2m9Zr4TfVh1sLpN8cYe6D',
  SESSION_PASSWORD: 'Zp4k9vQ2rT7wX1yB6nM3sD8fG5hJ0cL2aE9uR4tY',
}

/** The message parseConfig throws for `env`, or '' when it accepts it. */
function refusal(env: Record<string, string | undefined>): string {
  try {
    parseConfig(env)
    return ''
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError)
    return (error as Error).message
  }
}

describe('parseConfig', () => {
  it('fills every default from a minimal environment', () => {
    const c = parseConfig(minimal)
    expect(c).toMatchObject({
      NODE_ENV: 'development', DATABASE_POOL_SIZE: 20, STARTING_CREDIT: 10000, CURRENCY: 'EUR', LOCALE: 'en-IE',
      PURCHASE_RATE_LIMIT: 10, SETTLE_BATCH_SIZE: 200, TRPC_FAST_LANE: 'on', CATALOGUE_CACHE: 'on', S3_FORCE_PATH_STYLE: true,
    })
    expect(c.KAFKA_BROKERS).toEqual(['127.0.0.1:9092'])
    expect(c.SERVER_ID).toBeUndefined()
  })

  it('names each missing required variable on its own line', () => {
    const message = refusal({})
    expect(message).toMatch(/^Invalid configuration:/)
    for (const name of ['DATABASE_URL', 'KAFKA_BROKERS', 'OIDC_ISSUER']) expect(message).toMatch(new RegExp(`^  ${name}: `, 'm'))
  })

  it('accepts a Redis Cluster node list instead of REDIS_URL, and needs one of the two', () => {
    const { REDIS_URL: _, ...withoutRedis } = minimal
    expect(refusal(withoutRedis)).toMatch(/REDIS_URL: REDIS_URL or REDIS_CLUSTER_NODES is required/)
    expect(parseConfig({ ...withoutRedis, REDIS_CLUSTER_NODES: ' a:7000, b:7001 ,' }).REDIS_CLUSTER_NODES).toEqual(['a:7000', 'b:7001'])
  })

  it('checks URL schemes and the host:port form of Kafka brokers', () => {
    expect(refusal({ ...minimal, DATABASE_URL: 'postgres://x@h/db' })).toMatch(/DATABASE_URL/)
    expect(refusal({ ...minimal, REDIS_URL: 'http://127.0.0.1:6379' })).toMatch(/REDIS_URL/)
    expect(parseConfig({ ...minimal, REDIS_URL: 'rediss://cache:6380' }).REDIS_URL).toBe('rediss://cache:6380')
    expect(refusal({ ...minimal, KAFKA_BROKERS: 'kafka-1:9092,kafka-2' })).toMatch(/KAFKA_BROKERS\.1: expected host:port/)
    expect(parseConfig({ ...minimal, KAFKA_BROKERS: 'k1:9092, k2:9093' }).KAFKA_BROKERS).toEqual(['k1:9092', 'k2:9093'])
  })

  it('coerces numbers and refuses negative, fractional and out-of-range ones', () => {
    expect(parseConfig({ ...minimal, STARTING_CREDIT: '2500', SETTLE_BATCH_SIZE: '1000' })).toMatchObject({
      STARTING_CREDIT: 2500,
      SETTLE_BATCH_SIZE: 1000,
    })
    expect(refusal({ ...minimal, STARTING_CREDIT: '-1' })).toMatch(/STARTING_CREDIT/)
    expect(refusal({ ...minimal, PURCHASE_RATE_LIMIT: '1.5' })).toMatch(/PURCHASE_RATE_LIMIT/)
    expect(refusal({ ...minimal, SETTLE_BATCH_SIZE: '1001' })).toMatch(/SETTLE_BATCH_SIZE/)
    expect(refusal({ ...minimal, SHUTDOWN_TIMEOUT_MS: '999' })).toMatch(/SHUTDOWN_TIMEOUT_MS/)
  })

  it('takes only ISO 4217 currencies and BCP 47 locales', () => {
    expect(parseConfig({ ...minimal, CURRENCY: 'USD', LOCALE: 'de-CH' })).toMatchObject({ CURRENCY: 'USD', LOCALE: 'de-CH' })
    expect(refusal({ ...minimal, CURRENCY: 'eur' })).toMatch(/CURRENCY: expected an ISO 4217 code/)
    expect(refusal({ ...minimal, CURRENCY: 'XYZ' })).toMatch(/CURRENCY/)
    expect(refusal({ ...minimal, LOCALE: 'not a locale!' })).toMatch(/LOCALE: expected a BCP 47 locale/)
  })

  it('refuses a missing, short or known SESSION_PASSWORD in production only', () => {
    const { SESSION_PASSWORD: _, ...withoutPassword } = production
    for (const SESSION_PASSWORD of [undefined, '', 'too-short-for-production', 'dev-only-session-password-change-me-0123456789']) {
      expect(refusal({ ...withoutPassword, SESSION_PASSWORD }), String(SESSION_PASSWORD))
        .toMatch(/SESSION_PASSWORD: must be at least 32 characters in production, and not a default or placeholder/)
    }
    expect(parseConfig(production).SESSION_PASSWORD).toBe(production.SESSION_PASSWORD)
    expect(parseConfig({ ...minimal, SESSION_PASSWORD: 'short' }).SESSION_PASSWORD).toBe('short')
  })

  it('refuses a placeholder OIDC client secret in production', () => {
    expect(refusal({ ...production, OIDC_WEB_CLIENT_SECRET: 'dev-only-web-client-secret-change-me' })).toMatch(/OIDC_WEB_CLIENT_SECRET: is a default or placeholder/)
    expect(refusal({ ...production, OIDC_WEB_CLIENT_SECRET: 'secret' })).toMatch(/OIDC_WEB_CLIENT_SECRET/)
  })

  it('needs a bucket and both keys once S3_ENDPOINT is set', () => {
    const s3 = { S3_ENDPOINT: 'http://127.0.0.1:9000', S3_BUCKET: 'images', S3_ACCESS_KEY_ID: 'id', S3_SECRET_ACCESS_KEY: 'key' }
    expect(parseConfig({ ...minimal, ...s3, S3_FORCE_PATH_STYLE: 'false' })).toMatchObject({
      S3_BUCKET: 'images',
      S3_FORCE_PATH_STYLE: false,
    })
    expect(refusal({ ...minimal, ...s3, S3_SECRET_ACCESS_KEY: undefined })).toMatch(/S3_ENDPOINT: S3_ENDPOINT needs S3_BUCKET/)
    expect(refusal({ ...minimal, ...s3, S3_ENDPOINT: 'ftp://host' })).toMatch(/S3_ENDPOINT/)
  })

  it('refuses a SERVER_ID that is not 1–64 of A-Za-z0-9_.:-, naming the variable', () => {
    for (const SERVER_ID of ['has space', 'x'.repeat(65), 'é']) {
      expect(refusal({ ...minimal, SERVER_ID }), SERVER_ID).toMatch(/SERVER_ID: expected 1–64 of A-Z a-z 0-9 _ \. : -/)
    }
    expect(parseConfig({ ...minimal, SERVER_ID: 'web-7.pod:a_b' }).SERVER_ID).toBe('web-7.pod:a_b')
  })
})

describe('serverIdSetting', () => {
  it('reads SERVER_ID alone, by the same rule, without the rest of the configuration', () => {
    expect(serverIdSetting({})).toBeUndefined()
    expect(serverIdSetting({ SERVER_ID: 'web-1' })).toBe('web-1')
    expect(() => serverIdSetting({ SERVER_ID: 'bad id' })).toThrow(ConfigError)
    expect(() => serverIdSetting({ SERVER_ID: 'bad id' })).toThrow(/SERVER_ID: expected 1–64 of/)
  })
})
