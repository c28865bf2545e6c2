import { router } from '../init'
import { labelProcedures } from '../observe'
import { adminRouter } from './admin'
import { couponRouter } from './coupon'
import { orderRouter } from './order'
import { queueRouter } from './queue'
import { systemRouter } from './system'
import { userRouter } from './user'

export const appRouter = router({
  coupon: couponRouter,
  order: orderRouter,
  queue: queueRouter,
  user: userRouter,
  admin: adminRouter,
  system: systemRouter,
})

labelProcedures(Object.keys(appRouter._def.procedures))

export type AppRouter = typeof appRouter
