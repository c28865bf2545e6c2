import { randomUUID } from 'node:crypto'
import { serverId } from '../domain/instance'
import { setLogContext } from '../observability/log'

/** An id a client or NGINX may hand us; anything else is replaced (it travels into Kafka events, ≤ 128 chars). */
const REQUEST_ID = /^[\w.:-]{1,128}$/

/**
 * Log context of a web instance: every log line names this instance, and every request carries an
 * X-Request-Id (kept from the client or NGINX when sane, made here otherwise) that is echoed back,
 * used as the tRPC context's requestId and so followed into the worker's settlement log.
 */
export default defineNitroPlugin((nitro) => {
  setLogContext({ service: 'web', serverId })
  nitro.hooks.hook('request', (event) => {
    const { req, res } = event.node
    const given = req.headers['x-request-id']
    const requestId = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID()
    req.headers['x-request-id'] = requestId
    res.setHeader('x-request-id', requestId)
  })
})
