import { sql, type Kysely } from 'kysely'

/**
 * The waiting room: its settings on the coupon, and a record of every place taken and admission
 * granted (`queue_entries`), kept outside Redis so that a place Redis loses is put back where it was
 * and the audit can show that nobody bought without an admission. Frozen in time: no app code here.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('coupons')
    .addColumn('waiting_room_enabled', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('waiting_room_admit_per_second', 'integer', (c) => c.unsigned())
    .addColumn('waiting_room_admission_seconds', 'integer', (c) => c.unsigned())
    // when the room was last switched on: orders from before it were not gated by it
    .addColumn('waiting_room_enabled_at', sql`datetime(3)`)
    .execute()

  await db.schema.createTable('queue_entries')
    .addColumn('id', 'bigint', (c) => c.unsigned().autoIncrement().primaryKey())
    .addColumn('coupon_id', 'integer', (c) => c.unsigned().notNull())
    .addColumn('user_id', 'bigint', (c) => c.unsigned().notNull())
    .addColumn('turn', 'smallint', (c) => c.unsigned().notNull())
    // the place's score in Redis' line: a random fraction (joined before the opening) or microseconds
    .addColumn('score', 'double precision', (c) => c.notNull())
    .addColumn('joined_at', sql`datetime(3)`, (c) => c.notNull())
    .addColumn('admitted_at', sql`datetime(3)`)
    .addColumn('admitted_until', sql`datetime(3)`)
    .addUniqueConstraint('queue_entries_place', ['coupon_id', 'user_id', 'turn'])
    .execute()
  // the admission ticker reads a room's records in id order, from the last one it verified
  await db.schema.createIndex('queue_entries_coupon_id').on('queue_entries').columns(['coupon_id', 'id']).execute()
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('queue_entries').ifExists().execute()
  await db.schema.alterTable('coupons')
    .dropColumn('waiting_room_enabled_at').dropColumn('waiting_room_admission_seconds')
    .dropColumn('waiting_room_admit_per_second').dropColumn('waiting_room_enabled')
    .execute()
}
