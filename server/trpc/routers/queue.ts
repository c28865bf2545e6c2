import { z } from 'zod'
import { couponId } from '../../domain/coupons/schemas'
import { joinQueue, queueChallenge, queueStatusOf } from '../../domain/queue/service'
import { queueUpdates } from '../../realtime/streams'
import { protectedLiveProcedure, protectedProcedure, router } from '../init'

const room = z.object({ couponId }).strict()
const join = z.object({ couponId, challenge: z.string().min(1).max(200), nonce: z.string().min(1).max(64) }).strict()

/** The waiting room of a coupon (docs/architecture.md, "The waiting room"). */
export const queueRouter = router({
  /** A proof-of-work challenge for joining the coupon's waiting room: bound to the caller and the coupon, good for 15 minutes, not used up by a wrong answer. */
  challenge: protectedProcedure
    .meta({ refusals: ['NOT_FOUND'] })
    .input(room)
    .mutation(({ ctx, input }) => queueChallenge(ctx.user.id, input.couponId)),
  /** Joins the coupon's waiting room with a nonce solving the challenge (SHA-256 of "<challenge>:<nonce>" starting with `difficulty` zero bits); joining again keeps one's place. Answers as queue.status. */
  join: protectedProcedure
    .meta({ refusals: ['NOT_FOUND', 'ALREADY_PURCHASED'] })
    .input(join)
    .mutation(({ ctx, input }) => joinQueue(ctx.user.id, input.couponId, input.challenge, input.nonce)),
  /** The caller's place in the coupon's waiting room: state, position (fixed from the opening on), people ahead, an estimate, and the admission's end once admitted. */
  status: protectedProcedure
    .meta({ refusals: ['NOT_FOUND'] })
    .input(room)
    .query(({ ctx, input }) => queueStatusOf(ctx.user.id, input.couponId)),
  /** The caller's waiting-room status as it changes (over the WebSocket /ws): the current one first, then each change, position-only changes at most once a second. */
  onStatus: protectedLiveProcedure
    .meta({ refusals: ['NOT_FOUND'] })
    .input(room)
    .subscription(({ ctx, input, signal }) => queueUpdates(ctx.socket, ctx.user.id, input.couponId, signal)),
})
