import { z } from 'zod'
import { getCoupon, listCoupons } from '../../domain/coupons/catalogue'
import { couponId, listInput } from '../../domain/coupons/schemas'
import { publicProcedure, router } from '../init'

export const couponRouter = router({
  list: publicProcedure
    .input(listInput.optional())
    .query(({ input }) => {
      const { page, pageSize } = listInput.parse(input ?? {})
      return listCoupons(page, pageSize)
    }),
  get: publicProcedure
    .input(z.object({ id: couponId }).strict())
    .query(({ input }) => getCoupon(input.id)),
})
