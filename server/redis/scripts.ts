import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { config } from '../config'
import { keys } from './keys'
import type { RedisClient } from './client'

/** The scripts of lua/, each named `<name>-<numberOfKeys>.lua`. */
const SCRIPTS = ['reserve-3', 'cancel-3', 'claim-1', 'release-3', 'adjust-stock-1'] as const
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
    client.defineCommand(command, { numberOfKeys, lua: readFileSync(join(luaDir(), `${name}.lua`), 'utf8') })
  }
  defined.add(client)
}

/** `adjust-stock-1` → command `adjustStock` taking 1 key. */
function parseName(name: ScriptName) {
  const dash = name.lastIndexOf('-')
  const command = name.slice(0, dash).replace(/-(\w)/g, (_, c: string) => c.toUpperCase())
  return { command, numberOfKeys: Number(name.slice(dash + 1)) }
}

type Runner = (...args: (string | number)[]) => Promise<unknown>
function run(client: RedisClient, name: ScriptName, ...args: (string | number)[]): Promise<unknown> {
  ensureScripts(client)
  return (client as unknown as Record<string, Runner>)[parseName(name).command]!(...args)
}

export type ReserveStatus = 'OK' | 'NOT_LOADED' | 'ALREADY_PURCHASED' | 'SOLD_OUT'

export interface Reservation {
  state: 'reserved' | 'claimed'
  userId: number
  price: number
  serverId: string
  /** Reservation time, ms since epoch. */
  at: number
  claimedAt?: number
  requestId?: string
}

export async function reserveScript(client: RedisClient, couponId: number, userId: number, orderId: string, entry: Reservation) {
  const [status, stockLeft] = await run(client, 'reserve-3', ...keys.couponKeys(couponId), userId, orderId, JSON.stringify(entry)) as [ReserveStatus, number]
  return { status, stockLeft }
}

export async function cancelScript(client: RedisClient, couponId: number, orderId: string) {
  return await run(client, 'cancel-3', ...keys.couponKeys(couponId), orderId) as 'CANCELLED' | 'CLAIMED' | 'MISSING'
}

export async function claimScript(client: RedisClient, couponId: number, orderId: string, now = Date.now()) {
  return await run(client, 'claim-1', keys.pending(couponId), orderId, now) as 'CLAIMED' | 'MISSING'
}

/** Returns true when this call released the reservation (stock restored, buyer removed). */
export async function releaseScript(client: RedisClient, couponId: number, orderId: string): Promise<boolean> {
  return (await run(client, 'release-3', ...keys.couponKeys(couponId), orderId)) === 1
}

/** Returns the new live stock, 'NOT_LOADED', or 'INSUFFICIENT' when removing more units than are left. */
export async function adjustStockScript(client: RedisClient, couponId: number, delta: number) {
  const result = Number(await run(client, 'adjust-stock-1', keys.stock(couponId), delta))
  return result === -1 ? 'NOT_LOADED' as const : result === -2 ? 'INSUFFICIENT' as const : result
}
