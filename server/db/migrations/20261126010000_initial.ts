import { sql, type Kysely } from 'kysely'

// Frozen in time: a migration never imports app code.
export async function up(db: Kysely<unknown>): Promise<void> {
  const now = sql`CURRENT_TIMESTAMP(3)`

  await db.schema.createTable('users')
    .addColumn('id', 'bigint', (c) => c.unsigned().autoIncrement().primaryKey())
    .addColumn('sub', 'varchar(64)', (c) => c.notNull().unique())
    .addColumn('email', 'varchar(254)', (c) => c.notNull().unique())
    .addColumn('credit', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', sql`datetime(3)`, (c) => c.notNull().defaultTo(now))
    .execute()

  await db.schema.createTable('credit_ledger')
    .addColumn('id', 'bigint', (c) => c.unsigned().autoIncrement().primaryKey())
    .addColumn('user_id', 'bigint', (c) => c.unsigned().notNull())
    .addColumn('amount', 'bigint', (c) => c.notNull())
    .addColumn('kind', 'varchar(16)', (c) => c.notNull())
    .addColumn('order_id', 'varchar(64)', (c) => c.unique())
    .addColumn('created_at', sql`datetime(3)`, (c) => c.notNull().defaultTo(now))
    .execute()
  await db.schema.createIndex('credit_ledger_user').on('credit_ledger').column('user_id').execute()

  await db.schema.createTable('coupons')
    .addColumn('id', 'integer', (c) => c.unsigned().autoIncrement().primaryKey())
    .addColumn('name', 'varchar(120)', (c) => c.notNull())
    .addColumn('description', 'text', (c) => c.notNull())
    .addColumn('image_url', 'varchar(500)')
    .addColumn('price', 'integer', (c) => c.unsigned().notNull())
    .addColumn('total_stock', 'integer', (c) => c.unsigned().notNull())
    .addColumn('stock', 'integer', (c) => c.unsigned().notNull())
    .addColumn('sale_starts_at', sql`datetime(3)`)
    .addColumn('sale_ends_at', sql`datetime(3)`)
    .addColumn('created_at', sql`datetime(3)`, (c) => c.notNull().defaultTo(now))
    .addColumn('updated_at', sql`datetime(3)`, (c) => c.notNull().defaultTo(now))
    .execute()
  await db.schema.createIndex('coupons_sale_order').on('coupons').columns(['sale_starts_at', 'id']).execute()

  await db.schema.createTable('orders')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('user_id', 'bigint', (c) => c.unsigned().notNull())
    .addColumn('coupon_id', 'integer', (c) => c.unsigned().notNull())
    .addColumn('price', 'integer', (c) => c.unsigned().notNull())
    .addColumn('status', 'varchar(16)', (c) => c.notNull())
    .addColumn('reason', 'varchar(32)')
    .addColumn('server_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('created_at', sql`datetime(3)`, (c) => c.notNull())
    .addColumn('updated_at', sql`datetime(3)`, (c) => c.notNull().defaultTo(now))
    .execute()
  await db.schema.createIndex('orders_user_created').on('orders').columns(['user_id', 'created_at']).execute()
  await db.schema.createIndex('orders_coupon_status').on('orders').columns(['coupon_id', 'status']).execute()

  await db.schema.createTable('user_coupons')
    .addColumn('id', 'bigint', (c) => c.unsigned().autoIncrement().primaryKey())
    .addColumn('user_id', 'bigint', (c) => c.unsigned().notNull())
    .addColumn('coupon_id', 'integer', (c) => c.unsigned().notNull())
    .addColumn('order_id', 'varchar(64)', (c) => c.notNull().unique())
    .addColumn('created_at', sql`datetime(3)`, (c) => c.notNull().defaultTo(now))
    .addUniqueConstraint('user_coupons_user_coupon', ['user_id', 'coupon_id'])
    .execute()
  await db.schema.createIndex('user_coupons_coupon').on('user_coupons').column('coupon_id').execute()
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of ['user_coupons', 'orders', 'coupons', 'credit_ledger', 'users']) {
    await db.schema.dropTable(table).ifExists().execute()
  }
}
