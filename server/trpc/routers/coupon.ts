import { z } from 'zod'
import { getCoupon, listCoupons } from '../../domain/coupons/catalogue'
import { couponId, listInput } from '../../domain/coupons/schemas'
import { stockUpdates } from '../../realtime/streams'
import { liveProcedure, publicProcedure, router } from '../init'

export const couponRouter = router({
  /** A page of the catalogue, ordered by sale start, then id; `stock` may be up to two minutes old (the purchase checks it live). */
  list: publicProcedure
    .input(listInput.optional())
    .query(({ input }) => {
      const { page, pageSize } = listInput.parse(input ?? {})
      return listCoupons(page, pageSize)
    }),
  /** One coupon with its live stock. */
  get: publicProcedure
    .meta({ refusals: ['NOT_FOUND'] })
    .input(z.object({ id: couponId }).strict())
    .query(({ input }) => getCoupon(input.id)),
  /** Live stock of up to 50 coupons (anyone): the current values, then changes, a few a second at most. */
  onStock: liveProcedure
    .meta({ refusals: ['NOT_FOUND'] })
    .input(z.object({ couponIds: z.array(couponId).min(1).max(50) }).strict())
    .subscription(({ ctx, input, signal }) => stockUpdates(ctx.socket, input.couponIds, signal)),
})
