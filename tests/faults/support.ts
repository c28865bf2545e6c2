/**
 * The fault suite's harness: web instances and payment workers started in the test stack
 * (scripts/lib/stack.mjs, FLASH_SALE_STACK_DIR set by `npm test` / `npm run test:faults`), a burst of
 * shoppers purchasing one coupon over HTTP while a fault is injected, and the checks that follow it.
 * Everything on loopback, every loop bounded.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { db } from '../../server/db'
import { auditInvariants } from '../../server/domain/audit/service'
import { redis } from '../../server/redis/client'
import { keys } from '../../server/redis/keys'
import { openStack } from '../../scripts/lib/stack.mjs'
import type { Shopper } from '../support/shoppers'
import { couponState, eventually } from '../support/data'
import { procedureUrl } from '../support/api'

/** Whether a process lives (a zombie, dead but not yet reaped by its parent, counts as gone). */
export { isAlive } from '../../scripts/lib/proc.mjs'

export { sleep }

export interface StackProc {
  pid: number
  url?: string
  port?: number
  log: string
  /** resolves with the exit code, or the signal's name ('SIGKILL') */
  exited: Promise<number | string>
  stop: (timeoutMs?: number) => Promise<void>
  kill: () => Promise<void>
}
type Service = 'mariadb' | 'redis' | 'kafka' | 'keycloak'
/** `wrap`: a command to run node under, e.g. ['faketime', '-f', '+30s'] */
interface StartOptions { env?: Record<string, string>, wrap?: string[] }
export interface StackApi {
  dir: string
  env: Record<string, string>
  redisDir: string
  logsDir: string
  startWeb(o: StartOptions): Promise<StackProc & { url: string, port: number }>
  startWorker(o: StartOptions): Promise<StackProc>
  restartRedis(): Promise<unknown>
  restartKafka(): Promise<unknown>
  /** SIGKILL (the process group), then wait until it is gone */
  killService(name: Service): Promise<void>
  startService(name: Service): Promise<{ pid: number }>
  /** SIGTERM (a clean stop), then wait until it is gone */
  stopService(name: Service): Promise<void>
  processes(): Record<string, { pid: number, log: string }>
  startNginx(o: {
    name: string
    port: number
    upstreams: number[]
  }): Promise<{ url: string, port: number, prefix: string, stop: () => Promise<void> }>
  ports: Record<string, number>
  /** the broker's listeners kept for proxies, each advertised at its proxy's port (tests/faults/network) */
  kafkaProxySlots: { name: string, port: number, advertisedPort: number }[]
  /** the stack's Toxiproxy, started on first use */
  startToxiproxy(): Promise<{ url: string, port: number }>
  /** Kafka's own view of a consumer group's members (ConsumerGroupCommand) */
  groupMembers(group: string): Promise<{ consumerId: string, host: string, clientId: string, partitions: number, assignment: string[] }[]>
}

export function testStack(): StackApi {
  return openStack() as unknown as StackApi
}

/** One purchase attempt and its answer, for the history check (tests/faults/hard/history.ts). */
export interface Attempt {
  /** the shopper's Keycloak id (= users.sub) */
  sub: string
  couponId: number
  /** PENDING, a refusal's `reason` (TRY_AGAIN_LATER, SOLD_OUT, …), `HTTP <status>` without one, or NO_ANSWER (connection cut, timeout) */
  answer: string
  status: number | null
  orderId?: string
  /** how long the answer took (ms) */
  ms?: number
}

export interface BurstResult {
  /** every attempt, in the order the answers came */
  attempts: Attempt[]
  /** orderIds answered PENDING to a shopper */
  accepted: string[]
  /** final answers by reason: PENDING, SOLD_OUT, ALREADY_PURCHASED, GAVE_UP */
  outcomes: Record<string, number>
  /** answers that made a shopper retry: TRY_AGAIN_LATER, 5xx, connection errors */
  retries: Record<string, number>
}

/**
 * Every shopper tries to buy `couponId` once, starting at staggered times over `spreadMs`, through the
 * web instances in turn (a connection error moves to the next, like NGINX would). 503/5xx/connection
 * errors are retried with jitter until `deadlineMs`; 200 and 409 are final.
 */
export async function burst(
  urls: () => string[],
  shoppers: Shopper[],
  couponId: number,
  { spreadMs = 3_000, deadlineMs = 90_000 } = {},
): Promise<BurstResult> {
  const result: BurstResult = { attempts: [], accepted: [], outcomes: {}, retries: {} }
  const count = (m: Record<string, number>, k: string) => {
    m[k] = (m[k] ?? 0) + 1
  }
  const deadline = Date.now() + deadlineMs
  await Promise.all(
    shoppers.map(async (s, i) => {
      await sleep((i * spreadMs) / shoppers.length)
      let web = i
      for (let attempt = 0; attempt < 500 && Date.now() < deadline; attempt++) {
        const list = urls()
        const url = list[web % list.length]!
        const sent = Date.now()
        try {
          const res = await fetch(procedureUrl(url, 'order.purchase'), {
            method: 'POST',
            headers: { authorization: `Bearer ${s.token}`, 'content-type': 'application/json' },
            body: JSON.stringify({ couponId }),
            signal: AbortSignal.timeout(10_000),
          })
          const json = (await res.json().catch(() => ({}))) as {
            result?: { data?: { orderId: string } }
            error?: { data?: { reason?: string } }
          }
          if (res.status === 200 && json.result?.data?.orderId) {
            result.accepted.push(json.result.data.orderId)
            result.attempts.push({
              sub: s.id,
              couponId,
              answer: 'PENDING',
              status: 200,
              orderId: json.result.data.orderId,
              ms: Date.now() - sent,
            })
            count(result.outcomes, 'PENDING')
            return
          }
          const reason = json.error?.data?.reason ?? `HTTP ${res.status}`
          result.attempts.push({ sub: s.id, couponId, answer: reason, status: res.status, ms: Date.now() - sent })
          if (res.status === 409) {
            count(result.outcomes, reason)
            return
          }
          count(result.retries, reason)
        } catch (error) {
          result.attempts.push({ sub: s.id, couponId, answer: 'NO_ANSWER', status: null, ms: Date.now() - sent })
          count(result.retries, `connection: ${(error as Error).name}`)
          web++
        }
        await sleep(100 + Math.random() * 300)
      }
      count(result.outcomes, 'GAVE_UP')
    }),
  )
  return result
}

/** Waits (bounded) until nothing of the coupon is pending in Redis or MySQL and Redis adds up. */
export async function untilSettled(couponId: number, timeoutMs = 120_000) {
  return await eventually(async () => {
    const state = await couponState(couponId)
    const [row] = await db()
      .selectFrom('orders')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('coupon_id', '=', couponId)
      .where('status', '=', 'PENDING')
      .execute()
    const adds = state.redisStock !== null && state.redisStock + state.pending + state.paid === state.totalStock
    return state.pending === 0 && Number(row!.n) === 0 && adds ? state : null
  }, timeoutMs, 500)
}

/** The failed invariants (empty when the audit passes). */
export async function failedInvariants() {
  return (await auditInvariants(db(), redis())).filter((c) => !c.ok)
}

/** The settled status of each order id (undefined: not in MySQL). */
export async function statuses(orderIds: string[]): Promise<Map<string, string>> {
  if (!orderIds.length) return new Map()
  const rows = await db().selectFrom('orders').select(['id', 'status']).where('id', 'in', orderIds).execute()
  return new Map(rows.map((r) => [r.id, r.status]))
}

export async function redisRunId(): Promise<string> {
  const info = await redis().info('server')
  return /run_id:(\w+)/.exec(info)![1]!
}

export { keys }

export { kafkaDrained } from '../support/kafka'
