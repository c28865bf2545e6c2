import { router } from '../init'
import { adminRouter } from './admin'
import { couponRouter } from './coupon'
import { orderRouter } from './order'
import { systemRouter } from './system'
import { userRouter } from './user'

export const appRouter = router({
  coupon: couponRouter,
  order: orderRouter,
  user: userRouter,
  admin: adminRouter,
  system: systemRouter,
})

export type AppRouter = typeof appRouter
