import { z } from 'zod'
import { createCoupon, saleStats, updateCoupon } from '../../domain/coupons/admin'
import { couponId, createCouponInput, updateCouponInput } from '../../domain/coupons/schemas'
import { accountByEmail } from '../../domain/ledger/service'
import { normalizeCode, TYPED_CODE } from '../../domain/redemption/code'
import { lookUpCode, redeemCode } from '../../domain/redemption/service'
import { grantCredit } from '../../domain/users/service'
import { adminProcedure, router } from '../init'

/** A code as typed or scanned: any case, with or without the dashes between groups. */
const codeInput = z.object({
  code: z.string().max(64).regex(TYPED_CODE, 'Not a redemption code').transform(normalizeCode),
}).strict()

export const adminRouter = router({
  /** A new coupon; its stock is on sale in its window (no window: at once, without end). */
  createCoupon: adminProcedure.input(createCouponInput).mutation(({ input }) => createCoupon(input)),
  /**
   * Changes a coupon; `stockDelta` adds units, or removes units that no pending order holds; the sale
   * window (as given, or as stored) must end after it starts.
   */
  updateCoupon: adminProcedure
    .meta({ refusals: ['NOT_FOUND'] })
    .input(updateCouponInput)
    .mutation(({ input }) => updateCoupon(input)),
  /** Adds credit (in cents) to a shopper's balance. */
  grantCredit: adminProcedure
    .meta({ refusals: ['NOT_FOUND'] })
    .input(z.object({ userId: z.number().int().min(1), amount: z.number().int().min(1).max(100_000_000) }).strict())
    .mutation(({ input }) => grantCredit(input.userId, input.amount)),
  /** A shopper's account (user id, credit) by their email, before granting credit. */
  account: adminProcedure
    .meta({ refusals: ['NOT_FOUND'] })
    .input(z.object({ email: z.email().max(254).transform((email) => email.toLowerCase()) }).strict())
    .query(({ input }) => accountByEmail(input.email)),
  /** A coupon's sale as it runs: stock, pending, paid and failed orders, orders per second over the last minute. */
  saleStats: adminProcedure
    .meta({ refusals: ['NOT_FOUND'] })
    .input(z.object({ couponId }).strict())
    .query(({ input }) => saleStats(input.couponId)),
  /** What a redemption code is for, and whether it was redeemed. */
  redemption: adminProcedure
    .meta({ refusals: ['NOT_FOUND'] })
    .input(codeInput)
    .query(({ input }) => lookUpCode(input.code)),
  /** Redeems a code once (a shop's counter); a second time is ALREADY_REDEEMED. */
  redeem: adminProcedure
    .meta({ refusals: ['NOT_FOUND', 'ALREADY_REDEEMED'] })
    .input(codeInput)
    .mutation(({ ctx, input }) => redeemCode(ctx.user.id, input.code)),
})
