import type { Kysely } from 'kysely'

/**
 * order.onUpdate replays a shopper's orders settled after an event id (updated_at, then id): an index
 * that answers it without reading the shopper's other orders.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.createIndex('orders_user_updated').on('orders').columns(['user_id', 'updated_at', 'id']).execute()
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('orders_user_updated').on('orders').execute()
}
