import type { Server, ServerResponse } from 'node:http'
import { config } from '../config'
import { closeDb } from '../db'
import { closePaymentPublisher } from '../domain/orders/purchase'
import { log } from '../observability/log'
import { metrics } from '../observability/metrics'
import { closeRedis } from '../redis/client'
import { connections } from '../realtime'
import { setTimeout as sleep } from 'node:timers/promises'

/** Resolves with `promise`, or after `ms` with nothing (shutdown must not hang on one dependency). */
function bounded(promise: Promise<unknown>, ms: number): Promise<unknown> {
  return Promise.race([promise.catch((error) => log.warn('shutdown step failed', { error })), sleep(ms)])
}

/**
 * Graceful shutdown of a web instance on SIGTERM/SIGINT: stop accepting connections, tell WebSocket
 * clients to reconnect elsewhere (close code 1012), finish the requests in flight (a purchase waits
 * for Kafka's acknowledgement, so nothing reserved is lost), then run Nitro's `close` hooks and close
 * Kafka, Redis and MySQL.
 *
 * It replaces Nitro's built-in handler (NITRO_SHUTDOWN_DISABLED is set before the server starts;
 * Nitro reads it after the plugins ran), because that one destroys upgraded WebSocket connections
 * as idle before any `close` hook could send them 1012.
 */
export default defineNitroPlugin((nitro) => {
  process.env.NITRO_SHUTDOWN_DISABLED = '1'
  let server: Server | undefined
  let draining = false
  const inFlight = new Set<ServerResponse>()
  let allDone: (() => void) | undefined

  nitro.hooks.hook('request', (event) => {
    const { req, res } = event.node
    // Server-side renders call the API in-process with mock req/res objects that never emit
    // 'close': only requests on a real connection of this server are tracked.
    const own = (req.socket as unknown as { server?: Server } | undefined)?.server
    if (!own) return
    server ??= own
    inFlight.add(res)
    res.once('close', () => {
      inFlight.delete(res)
      if (!inFlight.size) allDone?.()
    })
    // A request that arrived on a kept-alive connection while draining is served, then the connection ends.
    if (draining) res.setHeader('connection', 'close')
  })

  async function shutdown(signal: string) {
    if (draining) return
    draining = true
    metrics.draining.set(1)
    const started = Date.now()
    const timeoutMs = config().SHUTDOWN_TIMEOUT_MS
    log.info('web stopping', { signal, inFlight: inFlight.size, sockets: connections.size })
    // No new connections (probes and NGINX see this instance gone); idle keep-alive ones close now.
    server?.close()
    for (const res of inFlight) if (!res.headersSent) res.setHeader('connection', 'close')
    connections.closeAll()
    metrics.wsConnections.set(0)
    if (inFlight.size) await bounded(new Promise<void>((resolve) => { allDone = resolve }), timeoutMs)
    if (inFlight.size) log.warn('requests still in flight at shutdown timeout', { inFlight: inFlight.size })
    // Lets the clients' close frames (answering our 1012) arrive before the connections are cut.
    await sleep(200)
    await bounded(nitro.hooks.callHook('close'), 5_000)
    await bounded(closePaymentPublisher(), 5_000)
    await bounded(Promise.all([closeRedis(), closeDb()]), 5_000)
    server?.closeAllConnections()
    log.info('web stopped', { signal, ms: Date.now() - started })
    process.exit(0)
  }
  process.once('SIGTERM', () => void shutdown('SIGTERM'))
  process.once('SIGINT', () => void shutdown('SIGINT'))
})
