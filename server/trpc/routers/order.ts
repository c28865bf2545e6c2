import { z } from 'zod'
import { couponId } from '../../domain/coupons/schemas'
import { orderIdSchema } from '../../domain/orders/ids'
import { knownPurchaseRefusal, purchaseCoupon } from '../../domain/orders/purchase'
import { getOrder, listMyOrders } from '../../domain/orders/service'
import { updateIdSchema } from '../../domain/orders/updates'
import { orderUpdates } from '../../realtime/streams'
import { protectedLiveProcedure, protectedProcedure, router } from '../init'

const purchaseInput = z.object({ couponId }).strict()

export const orderRouter = router({
  /** Buys one unit of a coupon: answers at once with a PENDING order, settled by a payment worker (see order.get, order.onUpdate). */
  purchase: protectedProcedure
    .meta({
      refusals: ['NOT_FOUND', 'SOLD_OUT', 'ALREADY_PURCHASED', 'SALE_NOT_STARTED', 'SALE_ENDED', 'NOT_ADMITTED'],
      knownRefusal: (input, userId) => {
        const parsed = purchaseInput.safeParse(input)
        return parsed.success && userId !== undefined ? knownPurchaseRefusal(userId, parsed.data.couponId) : undefined
      },
    })
    .input(purchaseInput)
    .mutation(({ ctx, input }) => purchaseCoupon(ctx.user.id, input.couponId, ctx.requestId)),
  /** One of the caller's orders, as it stands now (the truth when a live update was missed). */
  get: protectedProcedure
    .meta({ refusals: ['NOT_FOUND'] })
    .input(z.object({ orderId: orderIdSchema }).strict())
    .query(({ ctx, input }) => getOrder(ctx.user.id, input.orderId)),
  /** The caller's orders, newest first, the still pending ones included. */
  mine: protectedProcedure.query(({ ctx }) => listMyOrders(ctx.user.id)),
  /** The caller's order updates, each tracked by an id that sorts by update time (resumable with lastEventId). */
  onUpdate: protectedLiveProcedure
    .input(z.object({ lastEventId: updateIdSchema.optional() }).strict().optional())
    .subscription(({ ctx, input, signal }) => orderUpdates(ctx.socket, ctx.user.id, input?.lastEventId, signal)),
})
