import type { DB } from '../db'
import { kafka, PAYMENT_GROUP, topics } from '../kafka/client'
import type { RedisClient } from '../redis/client'
import { saleStats } from '../domain/coupons/admin'
import { selectCouponsOnSale } from '../domain/coupons/repository'
import { isTransient } from '../domain/payments/events'
import { LoadBarrier } from '../domain/stock/barrier'
import { checkCoupon, repairCoupon } from '../domain/stock/repair'
import { groupPositions } from '../observability/kafka-lag'
import { table, UsageError, type Output } from './output'
import { setTimeout as sleep } from 'node:timers/promises'


export function couponIdArg(value: string | undefined, usage: string): number {
  const id = Number(value)
  if (!value || !/^\d+$/.test(value) || id < 1 || id > 2_147_483_647) throw new UsageError(`usage: ${usage} (a coupon id is a positive integer)`)
  return id
}

/**
 * Loads coupons Redis does not hold (never loaded, or lost with a Redis failure), the way the
 * reconciler does: behind the Kafka barrier (their payment events in flight are settled first), then
 * stock, buyers and marker in one script. A loaded coupon is left as it is. Without an id: every
 * coupon on sale or opening within 10 minutes.
 */
export async function couponLoad(db: DB, redis: RedisClient, out: Output, id: string | undefined, timeoutMs: number) {
  const ids = id === undefined
    ? (await selectCouponsOnSale(db, 10 * 60_000)).map((c) => Number(c.id))
    : [couponIdArg(id, 'flash-sale coupon load [<couponId>]')]
  const admin = kafka().admin()
  await admin.connect()
  const barrier = new LoadBarrier(() => groupPositions(admin, topics.paymentRequests, PAYMENT_GROUP))
  const results: LoadResult[] = []
  try {
    for (const couponId of ids) results.push(await loadOne(db, redis, out, barrier, couponId, Date.now() + timeoutMs))
  } finally {
    await admin.disconnect()
  }
  out.result(results, () => table(results.map((r) => ({ coupon: r.couponId, status: r.status, stock: r.stock }))))
  return results.every((r) => r.status === 'loaded' || r.status === 'already-loaded')
}

/**
 * One coupon: left alone when loaded; otherwise loaded behind the barrier. When another loader holds
 * the coupon's repair lease (a worker's reconciler loading a coupon that just went on sale), waits for
 * it and checks again.
 */
async function loadOne(
  db: DB, redis: RedisClient, out: Output, barrier: LoadBarrier, couponId: number, deadline: number,
): Promise<LoadResult> {
  for (;;) {
    const check = await checkCoupon(db, redis, couponId)
    if (!check) throw new UsageError(`no coupon #${couponId}`)
    if (check.loaded) return { couponId, status: 'already-loaded', stock: check.redisStock }
    out.progress(`#${couponId}: not in Redis; waiting until its payment events in flight are settled`)
    while (!(await barrier.ready(couponId, Date.now()).catch(notReadyWhileTransient))) {
      if (Date.now() > deadline) throw new Error(`#${couponId}: the payment workers did not catch up before --timeout (are they running?)`)
      await sleep(500)
    }
    const result = await repairCoupon(db, redis, couponId)
    out.progress(`#${couponId}: ${result.status}`)
    if (result.status === 'repaired') return { couponId, status: 'loaded', stock: result.stock }
    if (result.status !== 'busy' || Date.now() > deadline) return { couponId, status: result.status }
    await sleep(500)
  }
}

interface LoadResult { couponId: number, status: string, stock?: number }

/** A broker that is starting (its group coordinator still loading) or moving leaders: ask again. */
function notReadyWhileTransient(error: unknown): false {
  if (isTransient(error)) return false
  throw error
}

export async function couponStats(out: Output, id: string | undefined) {
  const couponId = couponIdArg(id, 'flash-sale coupon stats <couponId>')
  const stats = await saleStats(couponId).catch((error: Error) => {
    throw error.name === 'DomainError' ? new UsageError(`no coupon #${couponId}`) : error
  })
  const lastMinute = stats.ordersPerSecond.reduce((a, b) => a + b, 0)
  out.result(stats, () =>
    table([
      {
        coupon: couponId,
        total: stats.totalStock,
        left: stats.stockLeft,
        pending: stats.pending,
        paid: stats.paid,
        failed: stats.failed,
        'orders last 60s': lastMinute,
      },
    ]),
  )
}
