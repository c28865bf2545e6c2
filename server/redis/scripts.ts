import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { config } from '../config'
import { keys } from './keys'
import type { Redis } from 'ioredis'
import type { RedisClient } from './client'

/** The scripts of lua/, each named `<name>-<numberOfKeys>.lua` (`-n`: the caller gives the count). */
const SCRIPTS = [
  'reserve-8', 'purchase-10', 'cancel-4', 'claim-2', 'finish-4', 'snapshot-6', 'apply-repair-8', 'lease-1', 'count-1', 'push-recent-1',
  'presence-touch-1', 'presence-read-n',
  'queue-join-5', 'queue-entry-3', 'queue-gate-4', 'queue-next-5', 'queue-admit-4', 'queue-restore-5', 'queue-view-5',
] as const
type ScriptName = (typeof SCRIPTS)[number]

const defined = new WeakSet<RedisClient>()

function luaDir(): string {
  return config().LUA_DIR ?? join(process.cwd(), 'lua')
}

/**
 * Registers the scripts on a client once; ioredis then runs them by EVALSHA, loading them on NOSCRIPT.
 * createRedis() calls it at once: an auto-pipeline copies the client's commands when it is made, so
 * a script defined later in the same tick is missing from it ("pipeline[functionName] is not a
 * function", and the pipeline's other callers never get an answer).
 */
export function ensureScripts(client: RedisClient): void {
  if (defined.has(client)) return
  for (const name of SCRIPTS) {
    const { command, numberOfKeys } = parseName(name)
    client.defineCommand(command, { numberOfKeys, lua: scriptText(name) })
  }
  defined.add(client)
}

/**
 * A script's text, each `-- include: <file>.lua` line replaced by that file's text (purchase-10
 * includes count-1, reserve-8 and push-recent-1, so each is written once).
 */
function scriptText(name: string): string {
  return readFileSync(join(luaDir(), `${name}.lua`), 'utf8')
    .replace(/^-- include: (\S+)\.lua$/gm, (_, included: string) => scriptText(included))
}

/** `apply-repair-8` → command `applyRepair` taking 8 keys; `presence-read-n` → `presenceRead`, the count its first argument. */
function nameParts(name: ScriptName) {
  const dash = name.lastIndexOf('-')
  const command = name.slice(0, dash).replace(/-(\w)/g, (_, c: string) => c.toUpperCase())
  const count = name.slice(dash + 1)
  return { command, numberOfKeys: count === 'n' ? undefined : Number(count) }
}
// parsed once: every purchase runs a script
const PARTS = new Map(SCRIPTS.map((name) => [name, nameParts(name)]))
const parseName = (name: ScriptName) => PARTS.get(name)!

type Runner = (...args: (string | number)[]) => Promise<unknown>
function run(client: RedisClient, name: ScriptName, ...args: (string | number)[]): Promise<unknown> {
  ensureScripts(client)
  return (client as unknown as Record<string, Runner>)[parseName(name).command]!(...args)
}

export type ReserveStatus =
  'OK' | 'PENDING' | 'NOT_LOADED' | 'REPAIRING' | 'SALE_NOT_STARTED' | 'SALE_ENDED' | 'ALREADY_PURCHASED' | 'HELD' | 'SOLD_OUT'

export interface Reservation {
  state: 'reserved' | 'claimed'
  userId: number
  price: number
  serverId: string
  /** Reservation time, ms since epoch on Redis' clock. */
  at: number
  /** Claim time, ms since epoch on Redis' clock. */
  claimedAt?: number
  requestId?: string
}

export interface ReserveRequest {
  userId: number
  orderId: string
  price: number
  serverId: string
  requestId?: string
  /** The sale window, ms since epoch; the script compares it with Redis' clock. */
  saleStartsAt?: number | null
  saleEndsAt?: number | null
}

/** The keys every script of a coupon's reservations takes first. */
const reservationKeys = (couponId: number) => [keys.stock(couponId), keys.buyers(couponId), keys.pending(couponId)]
/** What cancel-4 and finish-4 take: the reservations and the version. */
const ledgerKeys = (couponId: number) => [...reservationKeys(couponId), keys.version(couponId)]
/** What the reserve, snapshot and repair scripts take first: the reservations, the marker, the repair lease and the version. */
const stateKeys = (couponId: number) => [...reservationKeys(couponId), keys.loaded(couponId), keys.repair(couponId), keys.version(couponId)]

/** The reserve script's keys and arguments (`reserve` is also a command of a client's MULTI). */
export function reserveArgs(couponId: number, r: ReserveRequest): (string | number)[] {
  return [...reserveKeys(couponId), ...reserveArgv(r)]
}
const reserveKeys = (couponId: number) => [...stateKeys(couponId), keys.saleStats(couponId), keys.holders(couponId)]
const reserveArgv = (r: ReserveRequest) =>
  [r.userId, r.orderId, r.price, r.serverId, r.requestId ?? '', r.saleStartsAt ?? '', r.saleEndsAt ?? '']

/**
 * The reserve script's answer; `ownOrderId` (PENDING) is the user's own earlier order, still pending;
 * `version` (SOLD_OUT) the coupon's version as of that final answer.
 */
export async function reserveScript(client: RedisClient, couponId: number, r: ReserveRequest): Promise<ReserveAnswer> {
  return reserveAnswer(await run(client, 'reserve-8', ...reserveArgs(couponId, r)) as ReserveReply)
}

export interface ReserveAnswer { status: ReserveStatus, stockLeft: number, ownOrderId?: string, version?: string }
type ReserveReply = [ReserveStatus, number, string?]
function reserveAnswer([status, stockLeft, third]: ReserveReply): ReserveAnswer {
  if (status === 'PENDING') return { status, stockLeft, ownOrderId: third }
  if (status === 'SOLD_OUT') return { status, stockLeft, version: String(third) }
  return { status, stockLeft }
}

/** A rate limit's fixed window (count-1.lua): its counter, the attempts it allows (0: no limit) and its length. */
export interface RateWindow { key: string, limit: number, windowMs: number }
/** A capped, expiring list of ids (push-recent-1.lua). */
export interface RecentList { key: string, keep: number, ttlSeconds: number }

/**
 * The shopper's rate-limit count, the reserve script and, on OK, the order at the head of their
 * recent list, in one call: a single Redis server only (lua/purchase-10.lua). Over the limit,
 * nothing is reserved and the answer is the ms left in the window.
 */
export async function purchaseScript(
  client: Redis, couponId: number, r: ReserveRequest, rate: RateWindow, recent: RecentList,
): Promise<ReserveAnswer | { status: 'RATE_LIMITED', msLeft: number }> {
  const reply = await run(client, 'purchase-10', ...reserveKeys(couponId), rate.key, recent.key,
    ...reserveArgv(r), rate.limit, rate.windowMs, recent.keep, recent.ttlSeconds) as ReserveReply | ['RATE_LIMITED', number]
  return reply[0] === 'RATE_LIMITED' ? { status: 'RATE_LIMITED', msLeft: reply[1] } : reserveAnswer(reply as ReserveReply)
}

/**
 * A coupon's version, buyer set, stock and pending count, read together (one slot, one MULTI: as of
 * one moment): whether it is sold out for good then, and who holds it.
 */
export async function buyersSnapshot(
  client: RedisClient,
  couponId: number,
): Promise<{ version: string, buyers: string[], soldOut: boolean }> {
  const replies = await client.multi()
    .get(keys.version(couponId)).smembers(keys.buyers(couponId)).get(keys.stock(couponId)).hlen(keys.pending(couponId))
    .exec()
  if (!replies) throw new Error('buyer set read aborted')
  const failed = replies.find(([error]) => error)
  if (failed) throw failed[0]
  const [version, buyers, stock, pending] = replies.map(([, value]) => value) as [string | null, string[], string | null, number]
  return { version: version ?? '0', buyers, soldOut: stock !== null && Number(stock) <= 0 && pending === 0 }
}

export type CancelOutcome = 'CANCELLED' | 'CLAIMED' | 'MISSING'
export async function cancelScript(client: RedisClient, couponId: number, orderId: string) {
  return (await run(client, 'cancel-4', ...ledgerKeys(couponId), orderId)) as CancelOutcome
}

/** Claims entries of one coupon; per order id, the claimed entry (unparsable: 'CORRUPT') or 'MISSING'. */
export async function claimScript(
  client: RedisClient,
  couponId: number,
  orderIds: string[],
): Promise<(Reservation | 'MISSING' | 'CORRUPT')[]> {
  if (!orderIds.length) return []
  const raw = (await run(client, 'claim-2', keys.pending(couponId), keys.version(couponId), ...orderIds)) as string[]
  return raw.map((r) => (r === 'MISSING' ? 'MISSING' : (parseReservation(r) ?? 'CORRUPT')))
}

/** What a settled order's follow-up does to its entry (see lua/finish-4.lua). */
export type FollowUpAction = 'drop' | 'release' | 'keep-buyer' | 'drop-buyer'

/** Runs the follow-ups of one coupon's orders; returns how many entries it removed and units it restored. */
export async function finishScript(client: RedisClient, couponId: number, actions: [orderId: string, action: FollowUpAction][]) {
  if (!actions.length) return { removed: 0, restored: 0 }
  const [removed, restored] = (await run(client, 'finish-4', ...ledgerKeys(couponId), ...actions.flat())) as [number, number]
  return { removed, restored }
}

export interface CouponSnapshot {
  /** Redis' clock, ms since epoch. */
  now: number
  stock: number | null
  buyerCount: number
  version: string
  loaded: boolean
  repairing: boolean
  /** Pending entries by order id; the raw text where it does not parse. */
  entries: Map<string, Reservation | string>
}

export async function snapshotScript(client: RedisClient, couponId: number): Promise<CouponSnapshot> {
  const raw = (await run(client, 'snapshot-6', ...stateKeys(couponId))) as (string | number)[]
  const entries = new Map<string, Reservation | string>()
  for (let i = 6; i + 1 < raw.length; i += 2) entries.set(String(raw[i]), parseReservation(String(raw[i + 1])) ?? String(raw[i + 1]))
  return {
    now: Number(raw[0]), stock: raw[1] === '' ? null : Number(raw[1]), buyerCount: Number(raw[2]), version: String(raw[3]),
    loaded: Number(raw[4]) === 1, repairing: Number(raw[5]) === 1, entries,
  }
}

export interface RepairWrite { version: string, token: string, mysqlStock: number, paidEntries: number, marker: string }
export async function applyRepairScript(client: RedisClient, couponId: number, w: RepairWrite) {
  const [status, stock, buyers, quarantined] = (await run(client, 'apply-repair-8',
    ...stateKeys(couponId), keys.buyersStaging(couponId), keys.quarantine(couponId),
    w.version, w.token, w.mysqlStock, w.paidEntries, w.marker)) as ['OK' | 'MOVED' | 'LEASE_LOST', number?, number?, number?]
  return { status, stock, buyers, quarantined }
}

/** Takes the lease `key` for `token`, or renews it when this owner holds it already; false while another owner holds it. */
export async function holdLease(client: RedisClient, key: string, token: string, ms: number): Promise<boolean> {
  return (await client.set(key, token, 'PX', ms, 'NX')) === 'OK' || await leaseScript(client, key, token, 'renew', ms)
}

/** Renews or releases a lease this owner holds; false when it no longer holds it. */
export async function leaseScript(client: RedisClient, key: string, token: string, op: 'renew' | 'release', ms = 0): Promise<boolean> {
  return (await run(client, 'lease-1', key, token, op, ms)) === 1
}

/** INCR of a fixed window's counter, its expiry set by the first count (lua/count-1.lua): the count and the ms left. */
export async function countScript(client: RedisClient, key: string, windowMs: number): Promise<{ count: number, msLeft: number }> {
  const [count, msLeft] = await run(client, 'count-1', key, windowMs) as [number, number]
  return { count, msLeft }
}

/** LPUSH + LTRIM + EXPIRE of a capped list in one command (lua/push-recent-1.lua). */
export async function pushRecentScript(client: RedisClient, key: string, id: string, keep: number, ttlSeconds: number): Promise<void> {
  await run(client, 'push-recent-1', key, id, keep, ttlSeconds)
}

export async function presenceTouchScript(client: RedisClient, userId: number, serverId: string, ttlMs: number): Promise<void> {
  await run(client, 'presence-touch-1', keys.presence(userId), serverId, ttlMs)
}

/** The live presences of each user (server ids), on one TIME, in one call: a single Redis server only (lua/presence-read-n.lua). */
export async function presenceReadScript(client: Redis, userIds: number[]): Promise<string[][]> {
  return await run(client, 'presence-read-n', userIds.length, ...userIds.map((id) => keys.presence(id))) as string[][]
}

// ---------------------------------------------------------------------------------------------
// The waiting room (lua/queue-*.lua; docs/architecture.md, "The waiting room")

/** A place in the line: `<userId>` on a shopper's first turn, `<userId>:<turn>` after. */
export function queueMember(userId: number, turn: number): string {
  return turn === 1 ? String(userId) : `${userId}:${turn}`
}
export function parseQueueMember(member: string): { userId: number, turn: number } {
  const [user, turn] = member.split(':')
  return { userId: Number(user), turn: turn === undefined ? 1 : Number(turn) }
}

export interface QueueWindow {
  /** The opening and the end, ms since epoch (null: always open / open-ended). */
  startsAt: number | null
  endsAt: number | null
}

export type QueueJoinStatus = 'JOINED' | 'KEPT' | 'CLOSED' | 'ALREADY_PURCHASED'
export interface QueueJoined {
  status: QueueJoinStatus
  turn: number
  /** The place's score, as Redis stores it (a random fraction before the opening, microseconds after). */
  score: string
  /** 0-based rank, fixed; null before the opening. */
  rank: number | null
  /** Redis' clock, ms since epoch. */
  now: number
}

export async function queueJoinScript(
  client: RedisClient, couponId: number, userId: number, random: number, w: QueueWindow,
): Promise<QueueJoined> {
  const [status, turn, score, rank, now] = await run(client, 'queue-join-5',
    keys.queueLine(couponId), keys.queueTurns(couponId), keys.queueAdmits(couponId), keys.queueMeta(couponId), keys.buyers(couponId),
    userId, random.toPrecision(17), w.startsAt ?? '', w.endsAt ?? '') as [QueueJoinStatus, number, string, number, number]
  return { status, turn, score, rank: rank < 0 ? null : rank, now }
}

export interface QueueEntry {
  turn: number
  /** This turn has a place in the line. */
  joined: boolean
  /** 0-based rank; null before the opening or without a place. */
  rank: number | null
  /** When the shopper's admission ends (ms), null without one. */
  admittedUntil: number | null
  now: number
}

export async function queueEntryScript(
  client: RedisClient, couponId: number, userId: number, startsAt: number | null,
): Promise<QueueEntry> {
  const [turn, joined, rank, admittedUntil, now] = await run(client, 'queue-entry-3',
    keys.queueLine(couponId), keys.queueTurns(couponId), keys.queueAdmits(couponId), userId, startsAt ?? '') as number[]
  const orNull = (n: number) => (n < 0 ? null : n)
  return { turn: turn!, joined: joined === 1, rank: orNull(rank!), admittedUntil: orNull(admittedUntil!), now: now! }
}

export type QueueGate = 'ADMITTED' | 'NOT_ADMITTED' | 'SOLD_OUT'
export async function queueGateScript(client: RedisClient, couponId: number, userId: number): Promise<QueueGate> {
  return await run(client, 'queue-gate-4',
    keys.queueAdmits(couponId), keys.stock(couponId), keys.buyers(couponId), keys.pending(couponId), userId) as QueueGate
}

export interface QueueProposal {
  admitted: number
  lineLength: number
  now: number
  /** Units neither reserved nor promised to an unused admission; null when the room is not admitting. */
  free: number | null
  /** The next places, in order. */
  next: { userId: number, turn: number, score: string }[]
}

export async function queueNextScript(
  client: RedisClient, couponId: number, admitPerSecond: number, w: QueueWindow,
): Promise<QueueProposal> {
  const raw = await run(client, 'queue-next-5',
    keys.queueLine(couponId), keys.queueAdmitted(couponId), keys.queueLive(couponId), keys.queueMeta(couponId), keys.stock(couponId),
    admitPerSecond, w.startsAt ?? '', w.endsAt ?? '') as (number | string)[]
  const next: QueueProposal['next'] = []
  for (let i = 5; i + 1 < raw.length; i += 2) next.push({ ...parseQueueMember(String(raw[i])), score: String(raw[i + 1]) })
  const free = Number(raw[3]) < 0 ? null : Number(raw[3])
  return { admitted: Number(raw[0]), lineLength: Number(raw[1]), now: Number(raw[2]), free, next }
}

export interface QueueGrant {
  /** The admitted count queue-next (or queue-restore) saw, and the count after this grant. */
  from: number
  to: number
  admissionSeconds: number
  /** The second of Redis' clock the proposal was counted in. */
  second: number
  /** When the room's keys may go (ms), null for never. */
  expireAt: number | null
  userIds: number[]
}

/** Grants admissions; null when the room moved since the proposal (nothing granted), else their end (ms). */
export async function queueAdmitScript(client: RedisClient, couponId: number, g: QueueGrant): Promise<number | null> {
  const [status, value] = await run(client, 'queue-admit-4',
    keys.queueAdmitted(couponId), keys.queueAdmits(couponId), keys.queueLive(couponId), keys.queueMeta(couponId),
    g.from, g.to, g.admissionSeconds, g.second, g.expireAt ?? '', ...g.userIds) as ['OK' | 'MOVED', number]
  return status === 'OK' ? value : null
}

export interface QueueRecord { userId: number, turn: number, score: string }

/** Puts lost places back; returns the admitted count, how many were put back and the shoppers owed an admission. */
export async function queueRestoreScript(client: RedisClient, couponId: number, verified: number | null, records: QueueRecord[]) {
  const raw = await run(client, 'queue-restore-5',
    keys.queueLine(couponId), keys.queueTurns(couponId), keys.queueAdmitted(couponId), keys.queueAdmits(couponId), keys.queueMeta(couponId),
    verified ?? '', ...records.flatMap((r) => [r.userId, r.turn, r.score])) as (number | string)[]
  return { admitted: Number(raw[0]), restored: Number(raw[1]), holes: raw.slice(2).map(Number) }
}

export interface QueueView {
  /** Redis' clock, ms since epoch. */
  now: number
  admitted: number
  /** Live stock; null when Redis does not hold the coupon. */
  stock: number | null
  lineLength: number
  /** Changes when lost places were put back: ranks read before may be off. */
  epoch: string
  pending: number
}

export async function queueViewScript(client: RedisClient, couponId: number): Promise<QueueView> {
  const [now, admitted, stock, lineLength, epoch, pending] = await run(client, 'queue-view-5',
    keys.queueLine(couponId), keys.queueAdmitted(couponId), keys.queueMeta(couponId), keys.stock(couponId), keys.pending(couponId),
  ) as [number, number, number, number, string, number]
  return { now, admitted, stock: stock < 0 ? null : stock, lineLength, epoch: String(epoch), pending }
}

/** A pending entry as stored, or null when it is not one (corrupt data is reported, never fatal). */
export function parseReservation(raw: string): Reservation | null {
  try {
    const e = JSON.parse(raw) as Partial<Reservation>
    const state = e.state === 'reserved' || e.state === 'claimed'
    return state && Number.isInteger(e.userId) && Number.isInteger(e.price) && typeof e.at === 'number' ? e as Reservation : null
  } catch {
    return null
  }
}
