import { Kysely, MysqlDialect, sql, type MysqlPool, type MysqlPoolConnection } from 'kysely'
import { Migrator } from 'kysely/migration'
import { createPool, type Pool, type PoolConnection, type QueryError, type QueryOptions } from 'mysql2'
import { config, databaseDeadlines } from '../config'
import { migrations } from './migrations'
import type { Database } from './types'

export type DB = Kysely<Database>

/**
 * `queryTimeoutMs`: the deadline of each query (0: none, e.g. for migrations that rewrite big tables).
 */
export function createDb(
  url = config().DATABASE_URL,
  poolSize = config().DATABASE_POOL_SIZE,
  { queryTimeoutMs = databaseDeadlines().DATABASE_QUERY_TIMEOUT_MS } = {},
): DB {
  const pool = createPool({
    uri: url,
    connectionLimit: poolSize,
    connectTimeout: databaseDeadlines().DATABASE_CONNECT_TIMEOUT_MS,
    timezone: 'Z',
    // BIGINT ids and credit stay far below 2^53, so plain numbers are safe and simpler for callers.
    supportBigNumbers: true,
    bigNumberStrings: false,
    decimalNumbers: true,
    // Kysely sends plain queries, never prepared statements, yet mysql2 allocates its statement cache
    // up front: four arrays of this many slots per connection (16,000 by default, ~0.5 MB of heap each).
    maxPreparedStatements: 64,
  })
  return new Kysely<Database>({ dialect: new MysqlDialect({ pool: queryTimeoutMs ? withQueryDeadline(pool, queryTimeoutMs) : pool }) })
}

/**
 * The pool Kysely draws from, with deadlines (mysql2 sets none, and a stalled server keeps its
 * connections open and silent). A query unanswered in time fails with PROTOCOL_SEQUENCE_TIMEOUT — an
 * outage to its callers — and its connection is destroyed instead of going back to the pool, where
 * the next query would queue behind the stalled one. If that query was a COMMIT, whether it took
 * effect is unknown; the server rolls back a transaction whose connection is gone unless it had
 * committed, and settlement is idempotent on the order id either way. Waiting for a connection (all
 * of them busy, or new ones not getting through) has the same deadline.
 */
function withQueryDeadline(pool: Pool, timeoutMs: number): MysqlPool {
  const wrapped = new WeakMap<PoolConnection, MysqlPoolConnection>()
  const wrap = (connection: PoolConnection): MysqlPoolConnection => {
    /** The statement that went unanswered, once one did (the text, never the values). */
    let unanswered: string | undefined
    const query = (text: string, values: QueryOptions['values'], callback?: (error: QueryError | null, result: unknown) => void) => {
      const options: QueryOptions = { sql: text, values, timeout: timeoutMs }
      if (!callback) return connection.query(options)
      if (unanswered) {
        // e.g. the ROLLBACK after a COMMIT that timed out: the error says which statement's outcome is unknown
        const error = Object.assign(new Error(`MySQL connection dropped: "${unanswered}" went unanswered for ${timeoutMs} ms`), { code: 'PROTOCOL_CONNECTION_LOST', fatal: true, unanswered })
        process.nextTick(() => callback(error as QueryError, undefined))
        return undefined as unknown as ReturnType<PoolConnection['query']>
      }
      return connection.query(options, (error: QueryError | null, result: unknown) => {
        if (error?.code === 'PROTOCOL_SEQUENCE_TIMEOUT') {
          unanswered = text.slice(0, 200)
          connection.destroy()
          Object.assign(error, { unanswered })
        }
        callback(error, result)
      })
    }
    return new Proxy(connection, {
      get: (target, property) => {
        if (property === 'query') return query
        const value = Reflect.get(target, property, target) as unknown
        return typeof value === 'function' ? value.bind(target) : value
      },
    }) as unknown as MysqlPoolConnection
  }
  return {
    getConnection: (callback) => {
      let late = false
      const timer = setTimeout(() => {
        late = true
        callback(Object.assign(new Error(`no MySQL connection within ${timeoutMs} ms`), { code: 'ETIMEDOUT' }), undefined as unknown as MysqlPoolConnection)
      }, timeoutMs)
      pool.getConnection((error, connection) => {
        clearTimeout(timer)
        if (late) return connection?.release()
        if (error || !connection) return callback(error, connection as unknown as MysqlPoolConnection)
        let proxy = wrapped.get(connection)
        if (!proxy) wrapped.set(connection, proxy = wrap(connection))
        callback(null, proxy)
      })
    },
    end: (callback) => pool.end(callback),
  }
}

let shared: DB | undefined
/** The process-wide Kysely instance. */
export function db(): DB {
  shared ??= createDb()
  return shared
}

/** Whether MySQL answers at all (the readiness check's query). */
export async function pingDatabase(database: DB): Promise<void> {
  await sql`SELECT 1`.execute(database)
}

export async function closeDb(): Promise<void> {
  const current = shared
  shared = undefined
  await current?.destroy()
}

export async function migrateToLatest(database: DB): Promise<string[]> {
  const migrator = new Migrator({ db: database, provider: { getMigrations: async () => migrations } })
  const { error, results } = await migrator.migrateToLatest()
  if (error) throw error
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName)
}
