import { describe, expect, it } from 'vitest'
import { couponOfOrder, newOrderId, orderIdSchema } from './ids'

describe('order ids', () => {
  it('are <couponId>-<ULID>, name their coupon, and sort in the order they were made', () => {
    const ids = Array.from({ length: 50 }, () => newOrderId(42))
    for (const id of ids) {
      expect(orderIdSchema.safeParse(id).success, id).toBe(true)
      expect(couponOfOrder(id)).toBe(42)
    }
    expect([...ids].sort()).toEqual(ids)
    expect(new Set(ids).size).toBe(ids.length)
  })

  it('refuse what is not one: no coupon, coupon 0, a leading zero, a bad ULID, lower case', () => {
    const ulid = newOrderId(1).slice(2)
    for (const id of [
      ulid,
      `0-${ulid}`,
      `01-${ulid}`,
      `7-${ulid.slice(1)}`,
      `7-${ulid.slice(0, -1)}U`,
      `7-${ulid.toLowerCase()}`,
      `12345678901-${ulid}`,
    ]) {
      expect(orderIdSchema.safeParse(id).success, id).toBe(false)
    }
  })
})
