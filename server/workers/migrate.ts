import { closeDb, db, migrateToLatest } from '../db'

const applied = await migrateToLatest(db())
console.log(applied.length ? `migrations applied: ${applied.join(', ')}` : 'migrations: up to date')
await closeDb()
