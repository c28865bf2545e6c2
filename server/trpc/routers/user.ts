import { z } from 'zod'
import { couponId } from '../../domain/coupons/schemas'
import { creditLedger } from '../../domain/ledger/service'
import { describeUser } from '../../domain/users/service'
import { describeViewer } from '../../domain/viewer/service'
import { protectedProcedure, publicProcedure, router } from '../init'

export const userRouter = router({
  me: protectedProcedure.query(({ ctx }) => describeUser(ctx.user)),
  /** The per-user parts of a cached page in one call; a visitor gets `me: null` (not an error). */
  viewer: publicProcedure
    .input(z.object({ couponId: couponId.optional() }).strict().optional())
    .query(({ ctx, input }) => describeViewer(ctx.identity, input?.couponId)),
  ledger: protectedProcedure.query(({ ctx }) => creditLedger(ctx.user.id)),
})
