import { z } from 'zod'
import { couponId } from '../../domain/coupons/schemas'
import { orderIdSchema } from '../../domain/orders/ids'
import { purchaseCoupon } from '../../domain/orders/purchase'
import { getOrder, listMyOrders } from '../../domain/orders/service'
import { protectedProcedure, router } from '../init'

export const orderRouter = router({
  purchase: protectedProcedure
    .input(z.object({ couponId }).strict())
    .mutation(({ ctx, input }) => purchaseCoupon(ctx.user.id, input.couponId, ctx.requestId)),
  get: protectedProcedure
    .input(z.object({ orderId: orderIdSchema }).strict())
    .query(({ ctx, input }) => getOrder(ctx.user.id, input.orderId)),
  mine: protectedProcedure.query(({ ctx }) => listMyOrders(ctx.user.id)),
})
