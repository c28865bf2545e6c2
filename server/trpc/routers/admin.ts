import { z } from 'zod'
import { createCoupon, saleStats, updateCoupon } from '../../domain/coupons/admin'
import { couponId, createCouponInput, updateCouponInput } from '../../domain/coupons/schemas'
import { accountByEmail } from '../../domain/ledger/service'
import { CODE_PATTERN, normalizeCode } from '../../domain/redemption/code'
import { lookUpCode, redeemCode } from '../../domain/redemption/service'
import { grantCredit } from '../../domain/users/service'
import { adminProcedure, router } from '../init'

/** A code as typed or scanned: any case, with or without the dashes between groups. */
const codeInput = z.object({
  code: z.string().max(64).transform(normalizeCode).pipe(z.string().regex(CODE_PATTERN, 'Not a redemption code')),
}).strict()

export const adminRouter = router({
  createCoupon: adminProcedure.input(createCouponInput).mutation(({ input }) => createCoupon(input)),
  updateCoupon: adminProcedure.input(updateCouponInput).mutation(({ input }) => updateCoupon(input)),
  grantCredit: adminProcedure
    .input(z.object({ userId: z.number().int().min(1), amount: z.number().int().min(1).max(100_000_000) }).strict())
    .mutation(({ input }) => grantCredit(input.userId, input.amount)),
  account: adminProcedure
    .input(z.object({ email: z.string().trim().toLowerCase().max(254).pipe(z.email()) }).strict())
    .query(({ input }) => accountByEmail(input.email)),
  saleStats: adminProcedure.input(z.object({ couponId }).strict()).query(({ input }) => saleStats(input.couponId)),
  redemption: adminProcedure.input(codeInput).query(({ input }) => lookUpCode(input.code)),
  redeem: adminProcedure.input(codeInput).mutation(({ ctx, input }) => redeemCode(ctx.user.id, input.code)),
})
