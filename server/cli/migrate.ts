import { migrateToLatest, type DB } from '../db'
import type { Output } from './output'

/** Applies the Kysely migrations not yet applied (run once before a rollout). */
export async function migrate(db: DB, out: Output) {
  const applied = await migrateToLatest(db)
  out.result({ applied }, () => (applied.length ? `migrations applied: ${applied.join(', ')}` : 'migrations: up to date'))
}
