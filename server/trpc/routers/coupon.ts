import { z } from 'zod'
import { getCoupon, listCoupons } from '../../domain/coupons/catalogue'
import { couponId, listInput } from '../../domain/coupons/schemas'
import { stockUpdates } from '../../realtime/streams'
import { liveProcedure, publicProcedure, router } from '../init'

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
  /** Live stock of up to 50 coupons (anyone): the current values, then changes, a few a second at most. */
  onStock: liveProcedure
    .input(z.object({ couponIds: z.array(couponId).min(1).max(50) }).strict())
    .subscription(({ ctx, input, signal }) => stockUpdates(ctx.socket, input.couponIds, signal)),
})
