import { sql } from 'kysely'
import { createDb, migrateToLatest, type DB } from '../../server/db'

/**
 * Shared by the catalogue tests: a Kysely connection of the test's own, coupons to browse, and a
 * counter of the MySQL queries that load one page (read from the general log, filtered by text, so
 * other processes' queries never count).
 */
export const stackEnv = () => {
  for (const name of ['DATABASE_URL', 'REDIS_URL', 'KAFKA_BROKERS', 'OIDC_ISSUER']) {
    if (!process.env[name]) throw new Error(`${name} is not set: run these tests through \`npm test\` (scripts/test.mjs)`)
  }
  return {
    DATABASE_URL: process.env.DATABASE_URL!,
    REDIS_URL: process.env.REDIS_URL!,
    KAFKA_BROKERS: process.env.KAFKA_BROKERS!,
    OIDC_ISSUER: process.env.OIDC_ISSUER!,
  }
}

export async function openDb(): Promise<DB> {
  const db = createDb(stackEnv().DATABASE_URL, 4)
  await migrateToLatest(db)
  return db
}

/** Inserts `count` always-on-sale coupons and returns their ids. */
export async function insertCoupons(db: DB, count: number, label: string): Promise<number[]> {
  const ids: number[] = []
  for (let i = 0; i < count; i++) {
    const result = await db.insertInto('coupons').values({
      name: `${label} ${i}`, description: 'catalogue test', image_url: null, price: 100 + i,
      total_stock: 10, stock: 10, sale_starts_at: null, sale_ends_at: null,
    } as never).executeTakeFirstOrThrow()
    ids.push(Number(result.insertId))
  }
  return ids
}

export async function renameCoupon(db: DB, id: number, name: string): Promise<void> {
  await db.updateTable('coupons').set({ name } as never).where('id', '=', id).execute()
}

/** Counts the statements that read one page of `coupons` (by their LIMIT/OFFSET) from the general log. */
export async function startPageQueryLog(db: DB) {
  await sql`SET GLOBAL log_output = 'TABLE'`.execute(db)
  await sql`TRUNCATE TABLE mysql.general_log`.execute(db)
  await sql`SET GLOBAL general_log = 'ON'`.execute(db)
  return {
    async count(page: number, pageSize: number): Promise<number> {
      const pattern = `%from \`coupons\` order by%limit ${pageSize} offset ${(page - 1) * pageSize}`
      const { rows } = await sql<{ n: number }>`
        SELECT COUNT(*) AS n FROM mysql.general_log
        WHERE command_type IN ('Query', 'Execute') AND CONVERT(argument USING utf8mb4) LIKE ${pattern}`.execute(db)
      return Number(rows[0]!.n)
    },
    async stop(): Promise<void> {
      await sql`SET GLOBAL general_log = 'OFF'`.execute(db)
    },
  }
}

export { setTimeout as sleep } from 'node:timers/promises'
