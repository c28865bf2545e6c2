import { z } from 'zod'

/**
 * Every setting of the web and worker processes, read from the environment once and validated.
 * A bad or missing value stops start-up with a message naming the variable.
 */
/**
 * Secrets a copy of this repository shows (compose's old fallbacks, the manifests' placeholders) or
 * that only a template would hold: production refuses them, whoever could read the repository could
 * otherwise seal an admin session.
 */
const KNOWN_SECRET = /change-?me|dev-only|placeholder|replace|example|^(?:secret|password|admin)$/i
const realSecret = (value: string) => value.length >= 32 && !KNOWN_SECRET.test(value)

const csv = z.string().transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean))
const int = (def: number) => z.coerce.number().int().nonnegative().default(def)

/**
 * Deadlines of every MySQL connect and query (0: none). A stalled server keeps its connections open
 * and answers nothing; without them a caller would wait as long as the stall lasts.
 */
const databaseDeadlineSchema = z.object({
  DATABASE_CONNECT_TIMEOUT_MS: z.coerce.number().int().min(100).default(3_000),
  DATABASE_QUERY_TIMEOUT_MS: int(3_000),
})

function isLocale(tag: string): boolean {
  try {
    return Intl.getCanonicalLocales(tag).length === 1
  } catch {
    return false
  }
}

const serverIdSchema = z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'expected 1–64 of A-Z a-z 0-9 _ . : -').optional()

const schema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  DATABASE_URL: z.url({ protocol: /^mysql$/ }),
  DATABASE_POOL_SIZE: int(20),
  ...databaseDeadlineSchema.shape,
  REDIS_URL: z.url({ protocol: /^rediss?$/ }).optional(),
  /** Comma-separated host:port list; when set, the ioredis Cluster client is used instead of REDIS_URL. */
  REDIS_CLUSTER_NODES: csv.optional(),
  /**
   * Deadline of each Redis command: a stalled Redis answers the caller with a timeout, not silence.
   * Longer than a purchase's own deadline (4 s), which answers a reservation in doubt OUTCOME_UNKNOWN.
   */
  REDIS_COMMAND_TIMEOUT_MS: z.coerce.number().int().min(50).default(4_500),
  KAFKA_BROKERS: csv.pipe(z.array(z.string().regex(/^[^:]+:\d+$/, 'expected host:port')).min(1)),
  KAFKA_CLIENT_ID: z.string().default('flash-sale'),
  /** Deadline of each request to a Kafka broker (a send, a commit, a heartbeat; fetches and joins add their own wait). */
  KAFKA_REQUEST_TIMEOUT_MS: z.coerce.number().int().min(500).default(5_000),
  OIDC_ISSUER: z.url(),
  /**
   * Where this server reaches the identity provider when not at OIDC_ISSUER's own address (a
   * cluster-internal name, a proxy): discovery, key and token requests go to this origin instead.
   * Tokens are still checked against OIDC_ISSUER.
   */
  OIDC_INTERNAL_URL: z.url({ protocol: /^https?$/ }).optional(),
  OIDC_WEB_CLIENT_ID: z.string().default('flash-sale-web'),
  OIDC_WEB_CLIENT_SECRET: z.string().default(''),
  OIDC_CLI_CLIENT_ID: z.string().default('flash-sale-cli'),
  /** The address shoppers use (NGINX); redirect URIs are built from it. */
  PUBLIC_URL: z.url().default('http://localhost:8080'),
  SESSION_PASSWORD: z.string().default(''),
  STARTING_CREDIT: int(10000),
  /** The shop's currency (ISO 4217): prices and credit are integer minor units of it. */
  CURRENCY: z.string()
    .refine((c) => /^[A-Z]{3}$/.test(c) && Intl.supportedValuesOf('currency').includes(c), 'expected an ISO 4217 code such as EUR')
    .default('EUR'),
  /** The locale (BCP 47) prices and dates are shown in. */
  LOCALE: z.string().refine(isLocale, 'expected a BCP 47 locale such as en-IE').default('en-IE'),
  /** order.purchase attempts a user may make per second before TOO_MANY_REQUESTS. */
  PURCHASE_RATE_LIMIT: int(10),
  /** /ws: sockets a shopper may open per 10 seconds, across instances (0: no limit). NGINX cannot see a connectionParams token. */
  WS_CONNECT_RATE_LIMIT: int(20),
  /** /ws: sockets one shopper may hold on one web instance (a tab holds one). */
  WS_SOCKETS_PER_USER: z.coerce.number().int().min(1).default(5),
  /** /ws: subscriptions one socket may hold (a tab needs its orders, the stock on screen, its queue place). */
  WS_SUBSCRIPTIONS_PER_SOCKET: z.coerce.number().int().min(1).default(10),
  /** /ws: subscriptions of every kind one web instance holds at most (each costs a few KB). */
  WS_MAX_SUBSCRIPTIONS: z.coerce.number().int().min(1).default(20_000),
  /**
   * Waiting room: leading zero bits the proof of work of queue.join needs (SHA-256); each bit doubles
   * a shopper's work (16 ≈ 65,000 hashes: a second or two in a browser). Tests and benchmarks lower it.
   */
  QUEUE_POW_DIFFICULTY: z.coerce.number().int().min(0).max(32).default(16),
  /**
   * Web: under load, produce requests of payment events are at least this far apart (the events of
   * the meantime gather into the next one); an event after a quiet spell of this length goes at once.
   */
  PUBLISH_INTERVAL_MS: z.coerce.number().min(0).max(100).default(2),
  /** Worker: events settled per MySQL transaction at most. */
  SETTLE_BATCH_SIZE: z.coerce.number().int().min(1).max(1000).default(200),
  /** Worker: partitions whose batches it takes at the same time (settled together: one transaction for the chunks handed in at once). */
  SETTLE_PARTITIONS_CONCURRENTLY: z.coerce.number().int().min(1).max(64).default(6),
  /**
   * Worker: settlement rounds in flight at once under a backlog (server/workers/rounds.ts): a second
   * starts beside the first only when a full SETTLE_BATCH_SIZE of events waits. 1: one at a time.
   */
  SETTLE_ROUNDS_IN_FLIGHT: z.coerce.number().int().min(1).max(8).default(2),
  /**
   * Worker: under load (a round of 16 events or more that filled no batch), the next fetch waits until
   * this long after the round began, so rounds grow instead of multiplying; an idle worker never waits.
   */
  SETTLE_LINGER_MS: z.coerce.number().int().min(0).max(1_000).default(0),
  /**
   * Worker: a fetch answers once this many bytes of events are there (kafkajs' minBytes), or after
   * SETTLE_FETCH_MAX_WAIT_MS: with more than one byte, an idle worker's single event waits that long.
   * With one byte, an event ends the wait at once, so the wait only spaces out an idle worker's fetches.
   */
  SETTLE_FETCH_MIN_BYTES: z.coerce.number().int().min(1).max(1_048_576).default(1),
  /** Worker: how long a fetch waits for SETTLE_FETCH_MIN_BYTES (kafkajs' maxWaitTimeInMs). */
  SETTLE_FETCH_MAX_WAIT_MS: z.coerce.number().int().min(1).max(1_000).default(500),
  /**
   * Worker: a consumer that has made no progress this long while its partitions have lag (or has not
   * been a member of the group this long) is not ready; past the second, not live either.
   */
  WORKER_STALL_NOT_READY_MS: z.coerce.number().int().min(1_000).default(15_000),
  WORKER_STALL_NOT_LIVE_MS: z.coerce.number().int().min(1_000).default(120_000),
  /** Worker: HTTP port for /healthz, /readyz and /metrics. */
  METRICS_PORT: int(9101),
  /** Worker: address of that HTTP server; 0.0.0.0 in containers so probes and Prometheus reach it. */
  METRICS_HOST: z.string().min(1).default('127.0.0.1'),
  /**
   * Web: this instance's name among the others (payment results for its sockets arrive on
   * payment_update:<SERVER_ID>; orders record it). Default a random UUID per start; set it to the pod
   * name to find an instance's orders and logs by name. Must be unique per running instance.
   */
  SERVER_ID: serverIdSchema,
  /**
   * Web: the longest a tRPC call waits for its dependencies; then a query answers TRY_AGAIN_LATER and
   * a mutation OUTCOME_UNKNOWN (its work may still complete). Below NGINX's and the shoppers' 5 s.
   */
  REQUEST_DEADLINE_MS: z.coerce.number().int().min(100).default(4_500),
  /** SIGTERM: how long web and worker wait for in-flight work before exiting anyway. */
  SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().min(1_000).default(25_000),
  /**
   * Web and worker: how far V8 lets the old space grow above the live heap before its next major GC
   * (V8's --heap-growing-percent), set by the process itself at start. Lower keeps RSS down for some
   * CPU. 0 is V8's own policy; unset, WORKER_HEAP_GROWING_PERCENT and WEB_HEAP_GROWING_PERCENT.
   */
  HEAP_GROWING_PERCENT: z.coerce.number().int().min(0).max(1_000).optional(),
  LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
  LUA_DIR: z.string().optional(),
  /**
   * Tests only: failpoints to arm, `name=action,...` (server/domain/failpoints.ts). Unset in
   * production, where every failpoint is inert.
   */
  FLASH_SALE_FAILPOINTS: z.string().default(''),
  /** Tests only: a folder where each fired failpoint leaves a file named after it. */
  FLASH_SALE_FAILPOINT_DIR: z.string().optional(),
  /** `off` sends every tRPC call through trpc-nuxt's standard handler (for comparisons and benchmarks). */
  TRPC_FAST_LANE: z.enum(['on', 'off']).default('on'),
  /** Catalogue caching: `off` sends every coupon.list/get straight to MySQL (benchmarks, diagnosis). */
  CATALOGUE_CACHE: z.enum(['on', 'off']).default('on'),
  /** The per-process L1 cache alone: `off` makes every read go to Redis (L2). */
  CATALOGUE_L1: z.enum(['on', 'off']).default('on'),
  CATALOGUE_L1_TTL_MS: z.coerce.number().int().min(1).default(30_000),
  /** L2 page/coupon TTL; each write adds up to 10 % random jitter so pages do not expire together. */
  CATALOGUE_L2_TTL_MS: z.coerce.number().int().min(1).default(120_000),
  /** How long an unknown coupon id is remembered as missing (L1 and L2). */
  CATALOGUE_MISSING_TTL_MS: z.coerce.number().int().min(1).default(5_000),
  /** Lease of the page-rebuild mutex; the holder's watchdog extends it every lease/3. */
  CATALOGUE_LOCK_LEASE_MS: z.coerce.number().int().min(300).default(3_000),
  /** Local-disk image store (used when S3_ENDPOINT is unset); server/routes/uploads serves it. */
  UPLOAD_DIR: z.string().min(1).default('.data/uploads'),
  /** S3-compatible image store, e.g. http://127.0.0.1:9000; when set, uploads go to S3_BUCKET there. */
  S3_ENDPOINT: z.url({ protocol: /^https?$/ }).optional(),
  S3_BUCKET: z.string().min(1).optional(),
  S3_REGION: z.string().min(1).default('us-east-1'),
  S3_ACCESS_KEY_ID: z.string().min(1).optional(),
  S3_SECRET_ACCESS_KEY: z.string().min(1).optional(),
  /** Base URL browsers load images from; default the bucket's own URL at S3_ENDPOINT. */
  S3_PUBLIC_URL: z.url({ protocol: /^https?$/ }).optional(),
  /** true: http://endpoint/bucket/key (MinIO and most S3 look-alikes); false: http://bucket.endpoint/key. */
  S3_FORCE_PATH_STYLE: z.stringbool().default(true),
})
  .refine((c) => c.REDIS_URL || c.REDIS_CLUSTER_NODES, { message: 'REDIS_URL or REDIS_CLUSTER_NODES is required', path: ['REDIS_URL'] })
  .refine((c) => c.NODE_ENV !== 'production' || realSecret(c.SESSION_PASSWORD), {
    message: 'must be at least 32 characters in production, and not a default or placeholder',
    path: ['SESSION_PASSWORD'],
  })
  .refine((c) => c.NODE_ENV !== 'production' || !KNOWN_SECRET.test(c.OIDC_WEB_CLIENT_SECRET), {
    message: 'is a default or placeholder; use the client secret Keycloak generated',
    path: ['OIDC_WEB_CLIENT_SECRET'],
  })
  .refine((c) => !c.S3_ENDPOINT || (c.S3_BUCKET && c.S3_ACCESS_KEY_ID && c.S3_SECRET_ACCESS_KEY), {
    message: 'S3_ENDPOINT needs S3_BUCKET, S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY',
    path: ['S3_ENDPOINT'],
  })

export type Config = z.infer<typeof schema>

export class ConfigError extends Error {}

export function parseConfig(env: Record<string, string | undefined>): Config {
  const result = schema.safeParse(env)
  if (!result.success) {
    const lines = result.error.issues.map((i) => `  ${i.path.join('.') || '(env)'}: ${i.message}`)
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`)
  }
  return result.data
}

/**
 * SERVER_ID alone, validated by the same rule as in config(). For module-level constants: reading the
 * whole configuration at import time would freeze it before a test or script has set the environment.
 */
export function serverIdSetting(env: Record<string, string | undefined> = process.env): string | undefined {
  const result = serverIdSchema.safeParse(env.SERVER_ID)
  if (!result.success) throw new ConfigError(`Invalid configuration:\n  SERVER_ID: ${result.error.issues[0]!.message}`)
  return result.data
}

/**
 * The MySQL deadlines alone, by the same rules as in config(): a database made for an explicit URL
 * (a test's scratch database) must not freeze the whole configuration.
 */
export function databaseDeadlines(env: Record<string, string | undefined> = process.env): z.infer<typeof databaseDeadlineSchema> {
  const result = databaseDeadlineSchema.safeParse(env)
  if (!result.success) throw new ConfigError(`Invalid configuration:\n${result.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`).join('\n')}`)
  return result.data
}

let cached: Config | undefined

/** The process's configuration, parsed on first use. */
export function config(): Config {
  cached ??= parseConfig(process.env)
  return cached
}
