import { z } from 'zod'
import { couponId } from '../../domain/coupons/schemas'
import { joinQueue, queueChallenge, queueStatusOf } from '../../domain/queue/service'
import { protectedProcedure, router } from '../init'

const room = z.object({ couponId }).strict()
const join = z.object({ couponId, challenge: z.string().min(1).max(200), nonce: z.string().min(1).max(64) }).strict()

/** The waiting room of a coupon (docs/api.md, "The waiting room"). */
export const queueRouter = router({
  challenge: protectedProcedure.input(room).mutation(({ ctx, input }) => queueChallenge(ctx.user.id, input.couponId)),
  join: protectedProcedure.input(join).mutation(({ ctx, input }) => joinQueue(ctx.user.id, input.couponId, input.challenge, input.nonce)),
  status: protectedProcedure.input(room).query(({ ctx, input }) => queueStatusOf(ctx.user.id, input.couponId)),
})
