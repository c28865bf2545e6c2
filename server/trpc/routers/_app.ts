import { router } from '../init'
import { couponRouter } from './coupon'
import { userRouter } from './user'

export const appRouter = router({
  coupon: couponRouter,
  user: userRouter,
})

export type AppRouter = typeof appRouter
