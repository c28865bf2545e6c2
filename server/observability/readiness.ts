import type { Admin } from 'kafkajs'
import { db, pingDatabase } from '../db'
import { redis } from '../redis/client'
import { log } from './log'

export type DependencyState = 'ok' | 'failed'

async function answers(name: string, check: () => Promise<unknown>): Promise<DependencyState> {
  let timer: NodeJS.Timeout | undefined
  try {
    await Promise.race([check(), new Promise((_, reject) => { timer = setTimeout(() => reject(new Error('timed out')), 2_000) })])
    return 'ok'
  } catch (error) {
    log.warn('readiness check failed', { dependency: name, error })
    return 'failed'
  } finally {
    clearTimeout(timer)
  }
}

/**
 * Whether MySQL, Redis and Kafka each answer within 2 s: `ok` or `failed`; why one failed (hosts,
 * ports) goes to the log only. The web's and the worker's /readyz both ask it.
 */
export async function dependencies(
  kafkaAdmin: () => Promise<Admin>,
): Promise<{ mysql: DependencyState, redis: DependencyState, kafka: DependencyState }> {
  const [mysql, redisState, kafka] = await Promise.all([
    answers('mysql', () => pingDatabase(db())),
    answers('redis', () => redis().ping()),
    answers('kafka', async () => (await kafkaAdmin()).describeCluster()),
  ])
  return { mysql, redis: redisState, kafka }
}
