import { Kysely, MysqlDialect } from 'kysely'
import { Migrator } from 'kysely/migration'
import { createPool } from 'mysql2'
import { config } from '../config'
import { migrations } from './migrations'
import type { Database } from './types'

export type DB = Kysely<Database>

export function createDb(url = config().DATABASE_URL, poolSize = config().DATABASE_POOL_SIZE): DB {
  const pool = createPool({
    uri: url,
    connectionLimit: poolSize,
    timezone: 'Z',
    // BIGINT ids and credit stay far below 2^53, so plain numbers are safe and simpler for callers.
    supportBigNumbers: true,
    bigNumberStrings: false,
    decimalNumbers: true,
  })
  return new Kysely<Database>({ dialect: new MysqlDialect({ pool }) })
}

let shared: DB | undefined
/** The process-wide Kysely instance. */
export function db(): DB {
  shared ??= createDb()
  return shared
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
