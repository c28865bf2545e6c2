import { sql } from 'kysely'
import { db, type DB } from '../../db'
import { redis } from '../../redis/client'
import { keys } from '../../redis/keys'
import { snapshotScript } from '../../redis/scripts'
import { DomainError } from '../errors'
import { isTransient } from '../payments/events'
import { repairCoupon, repairUnderLease, withRepairLease } from '../stock/repair'
import { log } from '../../observability/log'
import { invalidateCoupon } from './catalogue'
import { toWaitingRoom } from './repository'
import type { WaitingRoom } from '../queue/schemas'
import type { CreateCouponInput, UpdateCouponInput } from './schemas'

const toDate = (iso: string | null | undefined) => (iso ? new Date(iso) : null)

export async function createCoupon(input: CreateCouponInput): Promise<{ id: number }> {
  const result = await db().insertInto('coupons').values({
    name: input.name,
    description: input.description,
    image_url: input.imageUrl ?? null,
    price: input.price,
    total_stock: input.stock,
    stock: input.stock,
    sale_starts_at: toDate(input.saleStartsAt),
    sale_ends_at: toDate(input.saleEndsAt),
    ...waitingRoomColumns(input.waitingRoom, false),
  }).executeTakeFirstOrThrow()
  const id = Number(result.insertId)
  // Stock, buyers and marker in one script; if Redis is unreachable now, the reconciler loads it.
  await syncStock(id)
  await invalidateCoupon(id)
  return { id }
}

/**
 * Stock changes are deltas committed in MySQL first; Redis then follows through the repair (never an
 * INCRBY first and an undo after). A removal is capped at the units no pending reservation holds, and
 * the coupon's repair lease is taken before the held units are counted: no reservation can slip in
 * between that count and Redis following MySQL (it would be told PENDING for a unit just removed).
 */
export async function updateCoupon(input: UpdateCouponInput): Promise<{ id: number }> {
  const current = await db().selectFrom('coupons').select(['id', 'sale_starts_at', 'sale_ends_at']).where('id', '=', input.id).executeTakeFirst()
  if (!current) throw new DomainError('NOT_FOUND', 'No such coupon')
  const starts = input.saleStartsAt === undefined ? current.sale_starts_at : toDate(input.saleStartsAt)
  const ends = input.saleEndsAt === undefined ? current.sale_ends_at : toDate(input.saleEndsAt)
  if (starts && ends && starts >= ends) throw new DomainError('INVALID_INPUT', 'saleEndsAt must be after saleStartsAt')

  const delta = input.stockDelta ?? 0
  if (delta) await underRepairLease(input.id, async (token) => {
    await writeCoupon(input, starts, ends, delta)
    const result = await repairUnderLease(db(), redis(), input.id, token).catch((error) => ({ status: 'error' as const, error }))
    if (result.status !== 'repaired') log.warn('stock change not yet in Redis; the reconciler will repair it', { couponId: input.id, result })
  })
  else await writeCoupon(input, starts, ends, 0)
  await invalidateCoupon(input.id)
  return { id: input.id }
}

async function writeCoupon(input: UpdateCouponInput, starts: Date | null, ends: Date | null, delta: number): Promise<void> {
  await db().transaction().execute(async (trx) => {
    const row = await trx.selectFrom('coupons').select(['stock', 'waiting_room_enabled']).where('id', '=', input.id).forUpdate().executeTakeFirstOrThrow()
    if (delta < 0) {
      const free = Number(row.stock) - await heldUnits(trx, input.id)
      if (-delta > free) throw new DomainError('INVALID_INPUT', `Cannot remove ${-delta} units: only ${Math.max(0, free)} are not held by buyers or pending reservations`)
    }
    await trx.updateTable('coupons').set({
      ...(input.name !== undefined ? { name: input.name } : {}),
      ...(input.description !== undefined ? { description: input.description } : {}),
      ...(input.price !== undefined ? { price: input.price } : {}),
      ...(input.imageUrl !== undefined ? { image_url: input.imageUrl } : {}),
      ...(input.saleStartsAt !== undefined ? { sale_starts_at: starts } : {}),
      ...(input.saleEndsAt !== undefined ? { sale_ends_at: ends } : {}),
      ...waitingRoomColumns(input.waitingRoom, Boolean(row.waiting_room_enabled)),
      stock: sql`stock + ${delta}`,
      total_stock: sql`total_stock + ${delta}`,
      updated_at: new Date(),
    }).where('id', '=', input.id).execute()
  })
}

/** The waiting room's columns; `enabled_at` moves only when the room is switched on. */
function waitingRoomColumns(room: WaitingRoom | undefined, wasEnabled: boolean) {
  if (!room) return {}
  return {
    waiting_room_enabled: room.enabled,
    waiting_room_admit_per_second: room.admitPerSecond,
    waiting_room_admission_seconds: room.admissionSeconds,
    ...(room.enabled && !wasEnabled ? { waiting_room_enabled_at: new Date() } : {}),
  }
}

/** Units of MySQL's stock that pending reservations hold: |E| − |E ∩ PAID| (paid ones left MySQL's stock already). */
async function heldUnits(trx: DB, couponId: number): Promise<number> {
  const ids = [...(await snapshotScript(redis(), couponId)).entries.keys()]
  if (!ids.length) return 0
  const paid = await trx.selectFrom('orders').select('id').where('id', 'in', ids).where('status', '=', 'PAID').execute()
  return ids.length - paid.length
}

/** Runs `work` under the coupon's repair lease, waiting a moment for another repair to finish. */
async function underRepairLease(couponId: number, work: (token: string) => Promise<void>): Promise<void> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const done = await withRepairLease(redis(), couponId, async (token) => {
      await work(token)
      return true
    }).catch((error: unknown) => {
      // nothing was committed: the lease (Redis) or the change (MySQL) could not be had
      if (isTransient(error)) throw new DomainError('TRY_AGAIN_LATER', 'The stock cannot be changed right now; try again in a moment', 2)
      throw error
    })
    if (done) return
    await new Promise((r) => setTimeout(r, 100)) // another repair holds the coupon
  }
  throw new DomainError('TRY_AGAIN_LATER', 'The coupon\'s stock is being checked; try again in a moment', 2)
}

/**
 * Brings a new coupon's Redis state to MySQL's through the repair (under its lease, version-checked).
 * A failure here is healed by the reconciler, which notices the missing marker.
 */
async function syncStock(couponId: number): Promise<void> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const result = await repairCoupon(db(), redis(), couponId).catch((error) => ({ status: 'error' as const, error }))
    if (result.status === 'repaired' || result.status === 'not-found') return
    if (result.status === 'error') return log.warn('stock not yet in Redis; the reconciler will load it', { couponId, error: String(result.error) })
    await new Promise((r) => setTimeout(r, 100)) // another repair holds the coupon
  }
  log.warn('stock not yet in Redis; the reconciler will load it', { couponId })
}

export async function saleStats(couponId: number) {
  const coupon = await db().selectFrom('coupons').select(['total_stock', 'stock', 'waiting_room_enabled', 'waiting_room_admit_per_second', 'waiting_room_admission_seconds']).where('id', '=', couponId).executeTakeFirst()
  if (!coupon) throw new DomainError('NOT_FOUND', 'No such coupon')
  const nowSecond = Math.floor(Date.now() / 1000)
  const seconds = Array.from({ length: 60 }, (_, i) => String(nowSecond - 59 + i))
  const [live, pending, perSecond, counts, line, admitted] = await Promise.all([
    redis().get(keys.stock(couponId)),
    redis().hlen(keys.pending(couponId)),
    redis().hmget(keys.saleStats(couponId), ...seconds),
    db().selectFrom('orders').select(['status', (eb) => eb.fn.countAll<number>().as('n')]).where('coupon_id', '=', couponId).groupBy('status').execute(),
    redis().zcard(keys.queueLine(couponId)),
    redis().get(keys.queueAdmitted(couponId)),
  ])
  const count = (status: string) => Number(counts.find((c) => c.status === status)?.n ?? 0)
  const room = toWaitingRoom(coupon)
  return {
    couponId,
    totalStock: Number(coupon.total_stock),
    stockLeft: live === null ? Number(coupon.stock) : Math.max(0, Number(live)),
    pending,
    paid: count('PAID'),
    failed: count('FAILED'),
    ordersPerSecond: perSecond.map((n) => Number(n ?? 0)),
    waitingRoom: room && waitingRoomFigures(room, line, Number(admitted ?? 0), count('PAID')),
  }
}

/** The room's figures on the sale dashboard: who joined, waits, was admitted, and how many of those bought. */
function waitingRoomFigures(room: WaitingRoom, joined: number, admitted: number, bought: number) {
  return {
    ...room,
    joined,
    waiting: Math.max(0, joined - admitted),
    admitted,
    bought,
    /** Share of admitted shoppers who bought (null before anyone was admitted). */
    conversion: admitted ? Math.min(1, bought / admitted) : null,
  }
}
