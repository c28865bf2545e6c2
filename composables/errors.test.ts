import { describe, expect, it } from 'vitest'
import { REASON_CODES } from '../server/trpc/errors'
import { describeError, describeReason, reasonOf, REASON_TEXT } from './errors'

const FAILURE_REASONS = ['INSUFFICIENT_CREDIT', 'SOLD_OUT', 'ALREADY_PURCHASED', 'CANCELLED', 'PAYMENT_ERROR']

describe('the app\'s reason texts', () => {
  it('have words for every refusal reason of the server\'s table and every order failure reason', () => {
    for (const reason of [...Object.keys(REASON_CODES), ...FAILURE_REASONS]) {
      const text = REASON_TEXT[reason as keyof typeof REASON_TEXT]
      expect(text, reason).toMatch(/^[A-Z]\w.{2,}/)
      expect(describeReason(reason), reason).toBe(text)
    }
  })

  it('fall back to the code in words for a reason the app does not know, and to a sentence for none', () => {
    expect(describeReason('SOMETHING_NEW')).toBe('something new')
    expect(describeReason(null)).toBe('Something went wrong')
    expect(describeReason(undefined)).toBe('Something went wrong')
  })
})

describe('reasonOf', () => {
  it('finds data.reason on the tRPC client error or down the cause chain Nuxt wraps it in', () => {
    expect(reasonOf({ data: { reason: 'SOLD_OUT' } })).toBe('SOLD_OUT')
    expect(reasonOf({ cause: { cause: { data: { reason: 'RATE_LIMITED' } } } })).toBe('RATE_LIMITED')
    expect(reasonOf(new Error('network down'))).toBeUndefined()
    expect(reasonOf(undefined)).toBeUndefined()
  })

  it('describes any error by its reason, or with a generic sentence (never a stack)', () => {
    expect(describeError({ cause: { data: { reason: 'SALE_ENDED' } } })).toBe('The sale has ended')
    expect(describeError(new TypeError('x is undefined\n    at foo (bar.js:1:1)'))).toBe('Something went wrong — please try again')
  })
})
