import { z } from 'zod'
import type { PaymentRequest } from '../../kafka/client'
import { orderIdSchema, couponOfOrder } from '../orders/ids'

/**
 * How long a web waits for Kafka to acknowledge a payment event before it cancels the reservation:
 * well inside the reconciler's 10 s window, and the wait of the load barrier.
 */
export const PUBLISH_TIMEOUT_MS = 3_000

const schema = z.object({
  v: z.literal(1),
  orderId: orderIdSchema,
  userId: z.number().int().min(1),
  couponId: z.number().int().min(1),
  price: z.number().int().min(0),
  serverId: z.string().min(1).max(64),
  requestId: z.string().max(128).default(''),
  createdAt: z.iso.datetime(),
}).refine((e) => couponOfOrder(e.orderId) === e.couponId, { message: 'orderId does not name couponId' })

/** Parses a payment-requests message; null for a poison message that can never be settled. */
export function parsePaymentRequest(value: Buffer | null): PaymentRequest | null {
  if (!value) return null
  try {
    const result = schema.safeParse(JSON.parse(value.toString('utf8')))
    return result.success ? result.data : null
  } catch {
    return null
  }
}

// What a restart, a failover, a full memory, a read-only server or a name-resolution hiccup produces.
// Classified by meaning, not by class: each of these clears by itself, so the worker pauses and
// retries, and a purchase answers TRY_AGAIN_LATER or PENDING; none is a reason to dead-letter.
const OUTAGE_CODES = new Set([
  // sockets and DNS
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ESOCKETTIMEDOUT',
  // MySQL: lost connections, contention, restarts, read-only (1290, 1836, 1792), resource limits
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'ER_LOCK_DEADLOCK',
  'ER_LOCK_WAIT_TIMEOUT',
  'ER_CON_COUNT_ERROR',
  'ER_SERVER_SHUTDOWN',
  'ER_CONNECTION_KILLED',
  'ER_QUERY_INTERRUPTED',
  'ER_OPTION_PREVENTS_STATEMENT',
  'ER_READ_ONLY_MODE',
  'ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION',
  'ER_OUT_OF_RESOURCES',
  'ER_CANT_CREATE_THREAD',
  'ER_NET_READ_INTERRUPTED',
  'ER_NET_WRITE_INTERRUPTED',
  'ER_TOO_MANY_USER_CONNECTIONS',
  'ER_DISK_FULL',
])
const OUTAGE_ERRNOS = new Set([1205, 1213, 1290, 1792, 1836, 1040, 1053, 2002, 2003, 2006, 2013])
// Redis replies (READONLY after a failover, OOM under noeviction, cluster reconfiguration, a server
// still loading its AOF) and client-side symptoms of the same (ioredis, kafkajs, mysql2 pools).
const OUTAGE_MESSAGE = new RegExp(
  [
    '^READONLY',
    '^OOM',
    '^CLUSTERDOWN',
    '^LOADING',
    '^TRYAGAIN',
    '^MASTERDOWN',
    '^BUSY',
    '^NOREPLICAS',
    '^MOVED',
    '^ASK',
    'No reachable node',
    'Failed to refresh slots cache',
    'Too many Cluster redirections',
    "Cluster isn't ready",
    'None of startup nodes is available',
    'Connection is closed',
    'connect ECONNREFUSED',
    "Stream isn't writeable",
    'Pool is closed',
    'read ECONNRESET',
    "Can't add new command",
    'Command timed out',
    'getaddrinfo',
    'timed out',
    'Timeout',
    'Connection lost',
    'socket hang up',
  ].join('|'),
)
const OUTAGE_NAMES = new Set([
  'MaxRetriesPerRequestError',
  'KafkaJSConnectionError',
  'KafkaJSConnectionClosedError',
  'KafkaJSRequestTimeoutError',
  'KafkaJSNumberOfRetriesExceeded',
  'KafkaJSBrokerNotFound',
  'KafkaJSLockTimeout',
  'KafkaJSNoBrokerAvailableError',
  'KafkaJSMetadataNotLoaded',
  'KafkaJSTimeout',
])

/** Whether an error means a dependency is (for now) unavailable: worth waiting out, never poison. */
export function isTransient(error: unknown, depth = 0): boolean {
  if (!error || typeof error !== 'object' || depth > 4) return false
  const e = error as {
    code?: unknown
    errno?: unknown
    message?: unknown
    name?: unknown
    retriable?: unknown
    fatal?: unknown
    cause?: unknown
    errors?: unknown
    originalError?: unknown
    lastError?: unknown
  }
  if (typeof e.code === 'string' && OUTAGE_CODES.has(e.code)) return true
  if (typeof e.errno === 'number' && OUTAGE_ERRNOS.has(e.errno)) return true
  if (typeof e.name === 'string' && OUTAGE_NAMES.has(e.name)) return true
  // kafkajs marks broker-side conditions that clear by themselves (leader moved, not enough replicas…).
  if (e.retriable === true) return true
  // mysql2: a fatal error is one that broke the connection.
  if (e.fatal === true) return true
  if (OUTAGE_MESSAGE.test(String(e.message ?? ''))) return true
  const nested = [e.cause, e.originalError, e.lastError, ...(Array.isArray(e.errors) ? e.errors : [])]
  return nested.some((n) => isTransient(n, depth + 1))
}
