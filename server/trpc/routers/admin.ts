import { z } from 'zod'
import { createCoupon, saleStats, updateCoupon } from '../../domain/coupons/admin'
import { couponId, createCouponInput, updateCouponInput } from '../../domain/coupons/schemas'
import { grantCredit } from '../../domain/users/service'
import { adminProcedure, router } from '../init'

export const adminRouter = router({
  createCoupon: adminProcedure.input(createCouponInput).mutation(({ input }) => createCoupon(input)),
  updateCoupon: adminProcedure.input(updateCouponInput).mutation(({ input }) => updateCoupon(input)),
  grantCredit: adminProcedure
    .input(z.object({ userId: z.number().int().min(1), amount: z.number().int().min(1).max(100_000_000) }).strict())
    .mutation(({ input }) => grantCredit(input.userId, input.amount)),
  saleStats: adminProcedure.input(z.object({ couponId }).strict()).query(({ input }) => saleStats(input.couponId)),
})
