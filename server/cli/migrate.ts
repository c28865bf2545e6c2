import { createDb, migrateToLatest } from '../db'
import type { Output } from './output'

/** Applies the Kysely migrations not yet applied (run once before a rollout). */
export async function migrate(out: Output) {
  // A migration may rewrite a big table: its own connection, without the per-query deadline.
  const db = createDb(undefined, 1, { queryTimeoutMs: 0 })
  try {
    const applied = await migrateToLatest(db)
    out.result({ applied }, () => (applied.length ? `migrations applied: ${applied.join(', ')}` : 'migrations: up to date'))
  } finally {
    await db.destroy()
  }
}
