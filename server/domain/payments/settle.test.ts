import { describe, expect, it } from 'vitest'
import type { PaymentRequest } from '../../kafka/client'
import type { Reservation } from '../../redis/scripts'
import { followUpAction } from './followup'
import { afterClaim, decidePayments, type BatchFigures } from './settle'

let seq = 0
function event(userId: number, couponId: number, price = 100): PaymentRequest {
  seq++
  return { v: 1, orderId: `${couponId}-01J0000000000000000000${String(seq).padStart(4, '0')}`, userId, couponId, price, serverId: 'web-1', requestId: '', createdAt: '2026-12-01T10:00:00.000Z' }
}
function figures({
  credit = {},
  stock = {},
  holds = [],
}: {
  credit?: Record<number, number>
  stock?: Record<number, number>
  holds?: string[]
}): BatchFigures {
  const entries = (o: Record<number, number>) => Object.entries(o).map(([k, v]) => [Number(k), v] as [number, number])
  return { credit: new Map(entries(credit)), stock: new Map(entries(stock)), holds: new Set(holds) }
}
const outcomes = (claimed: PaymentRequest[], f: BatchFigures) => decidePayments(claimed, f).map((d) => d.reason ?? d.status)

describe('decidePayments', () => {
  it('pays an order with credit and stock, and books the debit, the unit and the ownership', () => {
    const f = figures({ credit: { 1: 500 }, stock: { 7: 3 } })
    const [paid] = decidePayments([event(1, 7, 200)], f)
    expect(paid).toMatchObject({ status: 'PAID', userId: 1, couponId: 7, price: 200, serverId: 'web-1' })
    expect(paid!.reason).toBeUndefined()
    expect(f.credit.get(1)).toBe(300)
    expect(f.stock.get(7)).toBe(2)
    expect(f.holds.has('1:7')).toBe(true)
  })

  it('decides ALREADY_PURCHASED before SOLD_OUT before INSUFFICIENT_CREDIT', () => {
    expect(outcomes([event(1, 7, 900)], figures({ credit: { 1: 0 }, stock: { 7: 0 }, holds: ['1:7'] }))).toEqual(['ALREADY_PURCHASED'])
    expect(outcomes([event(1, 7, 900)], figures({ credit: { 1: 0 }, stock: { 7: 0 } }))).toEqual(['SOLD_OUT'])
    expect(outcomes([event(1, 7, 900)], figures({ credit: { 1: 899 }, stock: { 7: 1 } }))).toEqual(['INSUFFICIENT_CREDIT'])
    expect(outcomes([event(1, 7, 900)], figures({ credit: { 1: 900 }, stock: { 7: 1 } }))).toEqual(['PAID'])
  })

  it('decides in event order on running figures: the batch never sells more than the stock or spends more than the credit', () => {
    const f = figures({ credit: { 1: 250, 2: 1000, 3: 1000 }, stock: { 7: 2, 8: 5 } })
    const claimed = [event(1, 8, 200), event(1, 7, 100), event(2, 7), event(3, 7), event(2, 7)]
    expect(outcomes(claimed, f)).toEqual(['PAID', 'INSUFFICIENT_CREDIT', 'PAID', 'PAID', 'ALREADY_PURCHASED'])
    expect(f.stock.get(7)).toBe(0)
    expect(f.credit.get(1)).toBe(50)
  })

  it('fails an order whose user or coupon row is missing with PAYMENT_ERROR, touching nothing', () => {
    const f = figures({ credit: { 1: 500 }, stock: { 7: 1 } })
    expect(outcomes([event(2, 7), event(1, 9)], f)).toEqual(['PAYMENT_ERROR', 'PAYMENT_ERROR'])
    expect([f.credit.get(1), f.stock.get(7), f.holds.size]).toEqual([500, 1, 0])
  })
})

describe('afterClaim', () => {
  const reservation = (over: Partial<Reservation> = {}): Reservation => ({
    state: 'claimed',
    userId: 1,
    price: 100,
    serverId: 'web-1',
    at: 1,
    ...over,
  })

  it('fails a missing reservation as CANCELLED and an unreadable or another user\'s as PAYMENT_ERROR', () => {
    const e = event(1, 7)
    expect(afterClaim(e, 'MISSING')).toMatchObject({ decision: { status: 'FAILED', reason: 'CANCELLED', orderId: e.orderId } })
    expect(afterClaim(e, 'CORRUPT')).toMatchObject({ decision: { status: 'FAILED', reason: 'PAYMENT_ERROR' } })
    expect(afterClaim(e, reservation({ userId: 2 }))).toMatchObject({ decision: { status: 'FAILED', reason: 'PAYMENT_ERROR' } })
  })

  it('charges the price the reservation recorded, never the event\'s', () => {
    const e = event(1, 7, 1)
    expect(afterClaim(e, reservation({ price: 450 }))).toEqual({ claimed: { ...e, price: 450 } })
  })
})

describe('followUpAction', () => {
  const settled = (
    status: 'PAID' | 'FAILED',
    reason?: 'INSUFFICIENT_CREDIT' | 'SOLD_OUT' | 'ALREADY_PURCHASED' | 'CANCELLED' | 'PAYMENT_ERROR',
  ) => followUpAction({ orderId: '7-x', userId: 1, couponId: 7, status, ...(reason ? { reason } : {}) })

  it('keeps the unit taken when Redis forgot something (ALREADY_PURCHASED, SOLD_OUT) and releases it otherwise', () => {
    expect(settled('PAID')).toBe('drop')
    expect(settled('FAILED', 'ALREADY_PURCHASED')).toBe('keep-buyer')
    expect(settled('FAILED', 'SOLD_OUT')).toBe('drop-buyer')
    for (const reason of ['INSUFFICIENT_CREDIT', 'CANCELLED', 'PAYMENT_ERROR'] as const) {
      expect(settled('FAILED', reason), reason).toBe('release')
    }
  })
})
