import { describe, expect, it } from 'vitest'
import { isTransient, parsePaymentRequest } from './events'

const valid = {
  v: 1, orderId: '7-01JD3K6Q8ZB5V4N2M1C0X9Y8W7', userId: 3, couponId: 7, price: 250,
  serverId: 'web-1', requestId: 'r-1', createdAt: '2026-12-01T10:00:00.000Z',
}
const message = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value))

describe('parsePaymentRequest', () => {
  it('reads a version-1 event, defaulting a missing requestId', () => {
    expect(parsePaymentRequest(message(valid))).toEqual(valid)
    const { requestId: _, ...withoutRequestId } = valid
    expect(parsePaymentRequest(message(withoutRequestId))?.requestId).toBe('')
  })

  it('returns null for a poison message: empty, not JSON, another version, bad fields, or an order id of another coupon', () => {
    for (const value of [
      null,
      message('{'),
      message({ ...valid, v: 2 }),
      message({ ...valid, price: -1 }),
      message({ ...valid, userId: 0 }),
      message({ ...valid, orderId: '7-short' }),
      message({ ...valid, createdAt: 'yesterday' }),
      message({ ...valid, couponId: 8 }),
    ]) {
      expect(parsePaymentRequest(value), String(value)).toBeNull()
    }
  })
})

describe('isTransient', () => {
  it('counts restarts, failovers, read-only servers and name resolution as outages', () => {
    const outages = [
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:3306'), { code: 'ECONNREFUSED' }),
      Object.assign(new Error('The MySQL server is running with the --read-only option'), { errno: 1290 }),
      new Error('READONLY You can\'t write against a read only replica.'),
      new Error('OOM command not allowed when used memory > \'maxmemory\'.'),
      Object.assign(new Error('broker'), { name: 'KafkaJSConnectionError' }),
      Object.assign(new Error('not leader'), { retriable: true }),
      Object.assign(new Error('Connection lost: The server closed the connection.'), { fatal: true }),
    ]
    for (const error of outages) expect(isTransient(error), error.message).toBe(true)
  })

  it('finds an outage wrapped in a cause, an original error or an aggregate', () => {
    expect(isTransient(new Error('settle failed', { cause: { code: 'ETIMEDOUT' } }))).toBe(true)
    expect(isTransient({ originalError: { errno: 1213 } })).toBe(true)
    expect(isTransient(new AggregateError([new Error('x'), new Error('CLUSTERDOWN The cluster is down')]))).toBe(true)
  })

  it('treats bugs and bad data as poison, not outages', () => {
    for (const error of [
      new TypeError('Cannot read properties of undefined'),
      Object.assign(new Error('Duplicate entry'), { code: 'ER_DUP_ENTRY', errno: 1062 }),
      'ECONNREFUSED',
      null,
    ]) {
      expect(isTransient(error), String(error)).toBe(false)
    }
  })
})
