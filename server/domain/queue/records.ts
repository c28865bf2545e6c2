import { sql } from 'kysely'
import { LRUCache } from 'lru-cache'
import type { DB } from '../../db'

/**
 * The waiting room's record outside Redis (MySQL `queue_entries`): every place taken, with its score,
 * and every admission granted. Redis may lose its last writes; these rows put lost places back where
 * they were, and let the audit show that nobody bought without an admission.
 */

export interface PlaceRecord {
  couponId: number
  userId: number
  turn: number
  /** The place's score in Redis' line (a JS number holds it exactly). */
  score: number
  joinedAt: Date
}

const BATCH_ROWS = 500
const BATCH_WAIT_MS = 2

/**
 * Writes places in batches: the joins of the same few milliseconds share one INSERT, and each join
 * waits for its own batch's commit before it answers. A place already recorded is left as it is.
 */
export class PlaceRecorder {
  private batch: { row: PlaceRecord, done: (error?: unknown) => void }[] = []
  private timer: NodeJS.Timeout | undefined
  /** Places this process has recorded: joining again (or a replayed join) writes nothing more. */
  private readonly recorded = new LRUCache<string, true>({ max: 500_000 })

  constructor(private readonly db: () => DB) {}

  record(row: PlaceRecord): Promise<void> {
    const key = `${row.couponId}:${row.userId}:${row.turn}`
    if (this.recorded.has(key)) return Promise.resolve()
    return new Promise((resolve, reject) => {
      this.batch.push({ row, done: (error) => {
        if (error) return reject(error)
        this.recorded.set(key, true)
        resolve()
      } })
      if (this.batch.length >= BATCH_ROWS) this.flush()
      else this.timer ??= setTimeout(() => this.flush(), BATCH_WAIT_MS)
    })
  }

  private flush(): void {
    clearTimeout(this.timer)
    this.timer = undefined
    const batch = this.batch
    this.batch = []
    if (!batch.length) return
    this.db().insertInto('queue_entries').ignore()
      .values(batch.map(({ row }) => ({ coupon_id: row.couponId, user_id: row.userId, turn: row.turn, score: row.score, joined_at: row.joinedAt })))
      .execute()
      .then(() => batch.forEach((b) => b.done()), (error: unknown) => batch.forEach((b) => b.done(error ?? new Error('insert failed'))))
  }
}

/**
 * Records admissions before they are granted in Redis, so that MySQL never knows fewer admissions
 * than Redis grants. A place whose join never reached MySQL (the join failed after Redis took it) is
 * recorded here with it.
 */
export async function recordAdmissions(db: DB, couponId: number, places: { userId: number, turn: number, score: string }[], admittedAt: Date, admittedUntil: Date): Promise<void> {
  if (!places.length) return
  await db.insertInto('queue_entries')
    .values(places.map((p) => ({ coupon_id: couponId, user_id: p.userId, turn: p.turn, score: Number(p.score), joined_at: admittedAt, admitted_at: admittedAt, admitted_until: admittedUntil })))
    // a place admitted again (Redis forgot the first grant) keeps its first admission time
    .onDuplicateKeyUpdate({ admitted_at: sql`COALESCE(admitted_at, VALUES(admitted_at))`, admitted_until: sql`VALUES(admitted_until)` })
    .execute()
}

/** A room's records after `afterId`, in id order. */
export async function selectPlacesAfter(db: DB, couponId: number, afterId: number, limit: number) {
  const rows = await db.selectFrom('queue_entries').select(['id', 'user_id', 'turn', 'score', 'joined_at'])
    .where('coupon_id', '=', couponId).where('id', '>', afterId).orderBy('id').limit(limit).execute()
  return rows.map((r) => ({ id: Number(r.id), userId: Number(r.user_id), turn: Number(r.turn), score: Number(r.score), joinedAt: new Date(r.joined_at) }))
}

/** Rooms that are on (and whose sale has not ended more than a minute ago), with their settings. */
export async function selectOpenRooms(db: DB) {
  const rows = await db.selectFrom('coupons')
    .select(['id', 'waiting_room_admit_per_second', 'waiting_room_admission_seconds', 'sale_starts_at', 'sale_ends_at'])
    .where('waiting_room_enabled', '=', true)
    .where((eb) => eb.or([eb('sale_ends_at', 'is', null), eb('sale_ends_at', '>', new Date(Date.now() - 60_000))]))
    .execute()
  return rows.map((r) => ({
    couponId: Number(r.id),
    admitPerSecond: Number(r.waiting_room_admit_per_second ?? 1),
    admissionSeconds: Number(r.waiting_room_admission_seconds ?? 60),
    startsAt: r.sale_starts_at ? new Date(r.sale_starts_at).getTime() : null,
    endsAt: r.sale_ends_at ? new Date(r.sale_ends_at).getTime() : null,
  }))
}

export type OpenRoom = Awaited<ReturnType<typeof selectOpenRooms>>[number]
