// In-process baselines of the reservation and settlement steps, on the stack's MariaDB and Redis.
// The MySQL alternatives the design rejected live here only (own bench_* tables), never in the product.
import fs from 'node:fs'
import path from 'node:path'
import { randomUUID } from 'node:crypto'
import Redis from 'ioredis'
import mysql from 'mysql2/promise'
import { ROOT, percentile } from './util.mjs'

/** Runs `one()` from `callers` concurrent loops for `seconds`; returns { ops/s, p50, p99 (ms), extra }. */
async function closedLoop(callers, seconds, one) {
  const latencies = []
  const end = Date.now() + seconds * 1000
  const t0 = process.hrtime.bigint()
  await Promise.all(Array.from({ length: callers }, async (_, c) => {
    let i = 0
    while (Date.now() < end) {
      const s = process.hrtime.bigint()
      await one(c, i++)
      latencies.push(Number(process.hrtime.bigint() - s) / 1e6)
    }
  }))
  const elapsed = Number(process.hrtime.bigint() - t0) / 1e9
  latencies.sort((a, b) => a - b)
  return {
    ops: latencies.length,
    rps: latencies.length / elapsed,
    seconds: elapsed,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
  }
}

/** Redis+Lua: the product's reserve script by EVALSHA (ioredis defineCommand), many concurrent callers. */
export async function redisLuaReserve(env, { seconds, callers = 200 }) {
  const redis = new Redis(env.REDIS_URL, { lazyConnect: false })
  const tag = `bench-${randomUUID().slice(0, 8)}`
  const k = ['stock', 'buyers', 'pending', 'loaded', 'repair', 'ver']
    .map((name) => `coupon:{${tag}}:${name}`)
    .concat(`stats:{${tag}}:orders-per-second`, `coupon:{${tag}}:holders`)
  redis.defineCommand('benchReserve', { numberOfKeys: k.length, lua: fs.readFileSync(path.join(ROOT, 'lua', 'reserve-8.lua'), 'utf8') })
  await redis.multi().set(k[0], 1e9).set(k[3], '1').exec()
  const cpu0 = process.cpuUsage()
  let bad = 0
  const r = await closedLoop(callers, seconds, async (c, i) => {
    const userId = c * 1e7 + i
    const orderId = `${tag}-${c}-${i}`
    const [status] = await redis.benchReserve(...k, userId, orderId, 100, 'bench', '', '', '')
    if (status !== 'OK') bad++
  })
  const cpu = process.cpuUsage(cpu0)
  await redis.del(...k)
  redis.disconnect()
  return { ...r, refused: bad, nodeCpuUsPerCall: (cpu.user + cpu.system) / r.ops }
}

async function pool(env, size) {
  return mysql.createPool({ uri: env.DATABASE_URL, connectionLimit: size, waitForConnections: true })
}

/** The rejected pessimistic reservation: SELECT … FOR UPDATE on the hot row, UPDATE, INSERT, COMMIT. */
export async function mysqlPessimistic(env, { seconds, connections = 50 }) {
  const db = await pool(env, connections)
  await db.query('CREATE TABLE IF NOT EXISTS bench_stock (id INT PRIMARY KEY, stock INT NOT NULL, version INT NOT NULL DEFAULT 0)')
  await db.query('CREATE TABLE IF NOT EXISTS bench_reservations (id BIGINT AUTO_INCREMENT PRIMARY KEY, coupon_id INT NOT NULL, user_id BIGINT NOT NULL, order_id VARCHAR(64) NOT NULL, UNIQUE KEY (order_id))')
  await db.query('REPLACE INTO bench_stock (id, stock, version) VALUES (1, 1000000000, 0)')
  await db.query('TRUNCATE bench_reservations')
  let soldOut = 0
  const r = await closedLoop(connections, seconds, async (c, i) => {
    const conn = await db.getConnection()
    try {
      await conn.query('BEGIN')
      const [[row]] = await conn.query('SELECT stock FROM bench_stock WHERE id = 1 FOR UPDATE')
      if (row.stock <= 0) { soldOut++; await conn.query('ROLLBACK'); return }
      await conn.query('UPDATE bench_stock SET stock = stock - 1 WHERE id = 1')
      await conn.query('INSERT INTO bench_reservations (coupon_id, user_id, order_id) VALUES (1, ?, ?)', [c * 1e7 + i, `p-${c}-${i}`])
      await conn.query('COMMIT')
    } finally {
      conn.release()
    }
  })
  await db.end()
  return { ...r, soldOut }
}

/** The rejected optimistic reservation: read stock+version, version-checked UPDATE, retry on conflict. */
export async function mysqlOptimistic(env, { seconds, connections = 50, maxRetries = 100 }) {
  const db = await pool(env, connections)
  await db.query('REPLACE INTO bench_stock (id, stock, version) VALUES (1, 1000000000, 0)')
  await db.query('TRUNCATE bench_reservations')
  let retries = 0
  let gaveUp = 0
  const r = await closedLoop(connections, seconds, async (c, i) => {
    for (let attempt = 0; attempt < maxRetries; attempt++) {
      const [[row]] = await db.query('SELECT stock, version FROM bench_stock WHERE id = 1')
      if (row.stock <= 0) return
      const [res] = await db.query('UPDATE bench_stock SET stock = stock - 1, version = version + 1 WHERE id = 1 AND version = ?', [row.version])
      if (res.affectedRows === 1) {
        await db.query('INSERT INTO bench_reservations (coupon_id, user_id, order_id) VALUES (1, ?, ?)', [c * 1e7 + i, `o-${c}-${i}`])
        return
      }
      retries++
    }
    gaveUp++
  })
  await db.end()
  return { ...r, retries, gaveUp }
}

/**
 * The settlement baseline: one MySQL transaction per payment (lock the user, debit with the credit
 * guard, decrement stock with its guard, user_coupons, ledger, order row), 8 connections, on copies
 * of the product's tables (bench_*), `payments` distinct users on one coupon.
 */
export async function settlementPerTransaction(env, { payments = 3000, connections = 8 }) {
  const db = await pool(env, connections)
  for (const t of ['users', 'coupons', 'orders', 'user_coupons', 'credit_ledger']) {
    await db.query(`CREATE TABLE IF NOT EXISTS bench_${t} LIKE ${t}`)
    await db.query(`TRUNCATE bench_${t}`)
  }
  await db.query(`INSERT INTO bench_coupons (id, name, description, price, total_stock, stock) VALUES (1, 'bench', 'bench', 100, ?, ?)`, [payments, payments])
  for (let i = 0; i < payments; i += 1000) {
    const rows = Array.from(
      { length: Math.min(1000, payments - i) },
      (_, j) => [i + j + 1, `bench-${i + j}`, `bench-${i + j}@bench`, 10_000],
    )
    await db.query('INSERT INTO bench_users (id, sub, email, credit) VALUES ?', [rows])
  }
  let next = 0
  let failed = 0
  const latencies = []
  const t0 = process.hrtime.bigint()
  await Promise.all(Array.from({ length: connections }, async () => {
    const conn = await db.getConnection()
    try {
      while (next < payments) {
        const userId = ++next
        const orderId = `1-bench-${userId}`
        const s = process.hrtime.bigint()
        await conn.query('BEGIN')
        await conn.query('SELECT credit FROM bench_users WHERE id = ? FOR UPDATE', [userId])
        const [debit] = await conn.query('UPDATE bench_users SET credit = credit - 100 WHERE id = ? AND credit >= 100', [userId])
        const [stock] = await conn.query('UPDATE bench_coupons SET stock = stock - 1 WHERE id = 1 AND stock > 0')
        if (debit.affectedRows !== 1 || stock.affectedRows !== 1) { failed++; await conn.query('ROLLBACK'); continue }
        await conn.query('INSERT INTO bench_user_coupons (user_id, coupon_id, order_id) VALUES (?, 1, ?)', [userId, orderId])
        await conn.query(`INSERT INTO bench_credit_ledger (user_id, amount, kind, order_id) VALUES (?, -100, 'PURCHASE', ?)`, [userId, orderId])
        await conn.query(`INSERT INTO bench_orders (id, user_id, coupon_id, price, status, server_id, created_at) VALUES (?, ?, 1, 100, 'PAID', 'bench', NOW(3))`, [orderId, userId])
        await conn.query('COMMIT')
        latencies.push(Number(process.hrtime.bigint() - s) / 1e6)
      }
    } finally {
      conn.release()
    }
  }))
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9
  latencies.sort((a, b) => a - b)
  await db.end()
  return {
    ops: payments - failed,
    rps: (payments - failed) / seconds,
    seconds,
    failed,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
  }
}

/**
 * The floor Kafka sets under purchase → result: one message at a time, produced (idempotent, acks
 * from all in-sync replicas, as the web does) and consumed by a kafkajs consumer with the worker's
 * maxWaitTimeInMs (SETTLE_FETCH_MAX_WAIT_MS' default: with minBytes 1 a message ends the wait), on a
 * topic of its own. Returns { rps, p50, p99 } of produce → consume in ms.
 */
export async function kafkaProduceToConsume(env, { messages = 200 } = {}) {
  const { Kafka, logLevel } = await import('kafkajs')
  const kafka = new Kafka({ clientId: 'bench', brokers: env.KAFKA_BROKERS.split(','), logLevel: logLevel.NOTHING })
  const topic = `bench-latency-${randomUUID()}`
  const admin = kafka.admin()
  await admin.connect()
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true })
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
  const consumer = kafka.consumer({ groupId: `bench-${randomUUID()}`, maxWaitTimeInMs: 500 })
  await Promise.all([producer.connect(), consumer.connect()])
  await consumer.subscribe({ topic, fromBeginning: true })
  const arrived = new Map()
  const waiters = new Map()
  let joined
  const ready = new Promise((resolve) => { joined = resolve })
  consumer.on(consumer.events.GROUP_JOIN, () => joined())
  await consumer.run({ eachMessage: async ({ message }) => {
    const key = String(message.key)
    arrived.set(key, process.hrtime.bigint())
    waiters.get(key)?.()
  } })
  await ready
  await producer.send({ topic, acks: -1, messages: [{ key: 'warm-up', value: 'x' }] })
  const latencies = []
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < messages; i++) {
    const key = String(i)
    const at = new Promise((resolve) => waiters.set(key, resolve))
    const sent = process.hrtime.bigint()
    await producer.send({ topic, acks: -1, messages: [{ key, value: 'x'.repeat(300) }] })
    await at
    latencies.push(Number(arrived.get(key) - sent) / 1e6)
  }
  const elapsed = Number(process.hrtime.bigint() - t0) / 1e9
  await Promise.all([consumer.disconnect(), producer.disconnect()])
  await admin.deleteTopics({ topics: [topic] }).catch(() => {})
  await admin.disconnect()
  latencies.sort((a, b) => a - b)
  return { rps: messages / elapsed, p50: percentile(latencies, 50), p99: percentile(latencies, 99) }
}
