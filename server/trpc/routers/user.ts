import { describeUser } from '../../domain/users/service'
import { protectedProcedure, router } from '../init'

export const userRouter = router({
  me: protectedProcedure.query(({ ctx }) => describeUser(ctx.user)),
})
