import { randomUUID } from 'node:crypto'
import { getHTTPStatusCodeFromError } from '@trpc/server/http'
import { TRPCError } from '@trpc/server'
import { db } from '../../server/db'
import { solveChallenge } from '../../server/domain/queue/challenge'
import type { QueueStatus, WaitingRoom } from '../../server/domain/queue/schemas'
import { reasonOf } from '../../server/trpc/errors'
import { createCallerFactory } from '../../server/trpc/init'
import { appRouter } from '../../server/trpc/routers/_app'
import { createCouponOnSale } from '../support/data'

/*
 * Waiting-room tests drive the real procedures in this process (appRouter through tRPC's caller: input
 * validation, the signed-in middleware, the domain), against the test stack's Redis, MySQL and Kafka,
 * with shoppers made straight in MySQL (thousands of Keycloak tokens would cost minutes). The proof of
 * work is lowered for them by QUEUE_POW_DIFFICULTY.
 */

export interface TestShopper { id: number, sub: string, email: string }

/** `count` shoppers (users rows with their STARTING ledger rows), made in a few multi-row inserts. */
export async function bulkShoppers(count: number, credit = 10_000): Promise<TestShopper[]> {
  const made = Array.from({ length: count }, () => {
    const sub = `queue-${randomUUID()}`
    return { sub, email: `${sub}@example.test`, credit }
  })
  for (let i = 0; i < made.length; i += 500) await db().insertInto('users').values(made.slice(i, i + 500)).execute()
  const rows = await db().selectFrom('users').select(['id', 'sub']).where('sub', 'in', made.map((m) => m.sub)).execute()
  const ids = new Map(rows.map((r) => [r.sub, Number(r.id)]))
  const shoppers = made.map((m) => ({ id: ids.get(m.sub)!, sub: m.sub, email: m.email }))
  for (let i = 0; i < shoppers.length; i += 500) {
    await db().insertInto('credit_ledger').values(shoppers.slice(i, i + 500).map((s) => ({ user_id: s.id, amount: credit, kind: 'STARTING' as const, order_id: null }))).execute()
  }
  return shoppers
}

const createCaller = createCallerFactory(appRouter)
/** The app's procedures as this shopper calls them. */
export const as = (s: TestShopper) => createCaller({ identity: { sub: s.sub, email: s.email, isAdmin: false }, requestId: `test-${randomUUID()}` })

/** A coupon with an enabled waiting room, opening `opensInMs` from now, its stock in Redis. */
export async function createRoom(o: { stock: number, opensInMs: number, price?: number, room?: Partial<WaitingRoom> }): Promise<{ couponId: number, opensAt: number }> {
  const couponId = await createCouponOnSale({ stock: o.stock, price: o.price ?? 10 })
  const opensAt = Date.now() + o.opensInMs
  const room = { enabled: true, admitPerSecond: 50, admissionSeconds: 30, ...o.room }
  await db().updateTable('coupons').set({
    sale_starts_at: new Date(opensAt),
    waiting_room_enabled: room.enabled, waiting_room_admit_per_second: room.admitPerSecond,
    waiting_room_admission_seconds: room.admissionSeconds, waiting_room_enabled_at: new Date(),
  }).where('id', '=', couponId).execute()
  return { couponId, opensAt }
}

/** queue.challenge, the proof of work, queue.join: what the browser does. */
export async function join(s: TestShopper, couponId: number): Promise<QueueStatus> {
  const caller = as(s)
  const challenge = await caller.queue.challenge({ couponId })
  return await caller.queue.join({ couponId, challenge: challenge.challenge, nonce: solveChallenge(challenge) })
}

/** A refusal's reason and HTTP status (as the HTTP handler would answer it). */
export function refusal(error: unknown): { reason: string, httpStatus: number } {
  if (!(error instanceof TRPCError)) return { reason: String(error), httpStatus: 500 }
  return { reason: reasonOf(error) ?? error.code, httpStatus: getHTTPStatusCodeFromError(error) }
}

/** Spearman's rank correlation of two rankings of the same n items (no ties). */
export function spearman(a: number[], b: number[]): number {
  const n = a.length
  let d2 = 0
  for (let i = 0; i < n; i++) d2 += (a[i]! - b[i]!) ** 2
  return 1 - (6 * d2) / (n * (n * n - 1))
}
