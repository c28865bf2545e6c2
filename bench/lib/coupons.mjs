// The benchmarks' coupons: on sale from a second ago for three hours, with their Redis state written
// the way the product's load writes it (stock and the loaded marker together; a new coupon has no
// buyers). Without the marker the reserve script answers NOT_LOADED until a reconciler loads it.

/** Creates a coupon in MySQL and Redis; returns its id. `db`: a mysql2 pool or connection, `redis`: ioredis. */
export async function createBenchCoupon(db, redis, { name, description, stock, price = 10 }) {
  const [res] = await db.query(
    'INSERT INTO coupons (name, description, price, total_stock, stock, sale_starts_at, sale_ends_at) VALUES (?, ?, ?, ?, ?, NOW(3) - INTERVAL 1 SECOND, NOW(3) + INTERVAL 3 HOUR)',
    [name, description, price, stock, stock],
  )
  await redis
    .multi()
    .set(`coupon:{${res.insertId}}:stock`, stock, 'NX')
    .set(`coupon:{${res.insertId}}:loaded`, new Date().toISOString())
    .exec()
  return res.insertId
}
