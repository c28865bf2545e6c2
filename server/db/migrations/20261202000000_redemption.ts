import { randomBytes } from 'node:crypto'
import { sql, type Kysely } from 'kysely'

// Frozen in time: a migration never imports app code (the alphabet below is copied, on purpose).
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'
const LENGTH = 28

/** The columns this migration touches, as they were when it was written. */
interface Frozen {
  orders: { id: string, status: string, code: string | null }
}

function code(): string {
  return [...randomBytes(LENGTH)].map((b) => ALPHABET[b & 31]).join('')
}

/**
 * Redemption: every PAID order carries a unique, unguessable code that a shop redeems once
 * (`redeemed_at`, `redeemed_by` = the admin's user id). PAID orders settled before this migration get
 * their code here.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  const orders = db as unknown as Kysely<Frozen>
  await db.schema.alterTable('orders')
    .addColumn('code', 'char(28)', (c) => c.unique())
    .addColumn('redeemed_at', sql`datetime(3)`)
    .addColumn('redeemed_by', 'bigint', (c) => c.unsigned())
    .execute()
  for (;;) {
    const rows = await orders.selectFrom('orders').select('id').where('status', '=', 'PAID').where('code', 'is', null).limit(500).execute()
    if (!rows.length) break
    for (const row of rows) {
      await orders.updateTable('orders').set({ code: code() }).where('id', '=', row.id).execute()
    }
  }
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('orders').dropColumn('redeemed_by').dropColumn('redeemed_at').dropColumn('code').execute()
}
