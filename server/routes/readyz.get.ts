import type { Admin } from 'kafkajs'
import { connectPaymentPublisher } from '../domain/orders/purchase'
import { kafka } from '../kafka/client'
import { dependencies } from '../observability/readiness'

let admin: Promise<Admin> | undefined

/**
 * Readiness: MySQL, Redis and Kafka answer, and the payment publisher is connected (a purchase taken
 * now does not wait for it). Each is `ok` or `failed`; why it failed (hosts, ports) goes to the log
 * only. NGINX and the Ingress do not serve this path publicly.
 */
export default defineEventHandler(async (event) => {
  const results = await dependencies(async () => {
    await connectPaymentPublisher()
    admin ??= (async () => {
      const client = kafka().admin()
      await client.connect()
      return client
    })().catch((error: unknown) => {
      admin = undefined
      throw error
    })
    return admin
  })
  const ok = Object.values(results).every((r) => r === 'ok')
  setResponseStatus(event, ok ? 200 : 503)
  setResponseHeader(event, 'cache-control', 'no-store')
  return { ok, ...results }
})
