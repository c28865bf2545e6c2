import { z } from 'zod'
import { couponId } from '../../domain/coupons/schemas'
import { creditLedger } from '../../domain/ledger/service'
import { describeUser } from '../../domain/users/service'
import { describeViewer } from '../../domain/viewer/service'
import { protectedProcedure, publicProcedure, router } from '../init'

export const userRouter = router({
  /** The caller: id, email, credit (in cents) and whether they are an administrator. */
  me: protectedProcedure.meta({ refusals: ['NOT_FOUND'] }).query(({ ctx }) => describeUser(ctx.user)),
  /** The per-user parts of a cached page in one call; a visitor gets `me: null` (not an error). */
  viewer: publicProcedure
    .meta({ refusals: ['FORBIDDEN'] })
    .input(z.object({ couponId: couponId.optional() }).strict().optional())
    .query(({ ctx, input }) => describeViewer(ctx.identity, input?.couponId)),
  /** The caller's balance and its history (starting credit, grants, purchases), newest first. */
  ledger: protectedProcedure.meta({ refusals: ['NOT_FOUND'] }).query(({ ctx }) => creditLedger(ctx.user.id)),
})
