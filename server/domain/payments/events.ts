import { z } from 'zod'
import type { PaymentRequest } from '../../kafka/client'
import { orderIdSchema, couponOfOrder } from '../orders/ids'

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

/** Connection losses, deadlocks and timeouts: worth waiting out, never a reason to dead-letter. */
export function isTransient(error: unknown): boolean {
  const e = error as { code?: string, errno?: number, message?: string, name?: string }
  const code = e?.code ?? ''
  if (/^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|EHOSTUNREACH|PROTOCOL_CONNECTION_LOST|ER_LOCK_DEADLOCK|ER_LOCK_WAIT_TIMEOUT|ER_CON_COUNT_ERROR|ER_SERVER_SHUTDOWN|ER_CONNECTION_KILLED|PROTOCOL_SEQUENCE_TIMEOUT)$/.test(code)) return true
  const message = String(e?.message ?? '')
  return e?.name === 'MaxRetriesPerRequestError' || /Connection is closed|connect ECONNREFUSED|Stream isn't writeable|Pool is closed|read ECONNRESET|CLUSTERDOWN|LOADING|TRYAGAIN|Can't add new command/.test(message)
}
