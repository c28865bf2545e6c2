import { publicProcedure, router } from '../init'

export const systemRouter = router({
  /** A trivial call: checks a client's wiring, and is the benchmark's measure of the tRPC endpoint itself. */
  ping: publicProcedure.query(() => ({ ok: true as const })),
})
