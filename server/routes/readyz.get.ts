import { sql } from 'kysely'
import { db } from '../db'
import { kafka } from '../kafka/client'
import { log } from '../observability/log'
import { redis } from '../redis/client'

let admin: ReturnType<ReturnType<typeof kafka>['admin']> | undefined

/**
 * Readiness: MySQL, Redis and Kafka answer. Each is `ok` or `failed`; why it failed (hosts, ports)
 * goes to the log only. NGINX and the Ingress do not serve this path publicly.
 */
export default defineEventHandler(async (event) => {
  const check = async (name: string, fn: () => Promise<unknown>) => {
    try {
      await Promise.race([fn(), new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), 2_000))])
      return [name, 'ok'] as const
    } catch (error) {
      log.warn('readiness check failed', { dependency: name, error })
      return [name, 'failed'] as const
    }
  }
  const results = Object.fromEntries(await Promise.all([
    check('mysql', () => sql`SELECT 1`.execute(db())),
    check('redis', () => redis().ping()),
    check('kafka', async () => {
      if (!admin) {
        admin = kafka().admin()
        await admin.connect()
      }
      await admin.describeCluster()
    }),
  ]))
  const ok = Object.values(results).every((r) => r === 'ok')
  setResponseStatus(event, ok ? 200 : 503)
  setResponseHeader(event, 'cache-control', 'no-store')
  return { ok, ...results }
})
