import { createTRPCNuxtHandler } from 'trpc-nuxt/server'
import { config } from '../../config'
import { createContext } from '../../trpc/context'
import { retryAfterOf } from '../../trpc/errors'
import { handleSingleCall, MAX_BATCH_SIZE, refuseMalformedCall } from '../../trpc/http'
import { appRouter } from '../../trpc/routers/_app'

// Batches of several calls and subscriptions go through trpc-nuxt's standard handler. Latency, outcomes
// and internal errors are recorded by the procedures' root middleware, for either handler (observe.ts).
const standardHandler = createTRPCNuxtHandler({
  endpoint: '/api/trpc',
  router: appRouter,
  createContext,
  maxBatchSize: MAX_BATCH_SIZE,
  responseMeta({ errors }) {
    const retryAfter = errors.map(retryAfterOf).find((s) => s !== undefined)
    return retryAfter ? { headers: new Headers({ 'retry-after': String(retryAfter) }) } : {}
  },
})

const fastLane = config().TRPC_FAST_LANE === 'on'

export default defineEventHandler(async (event) =>
  refuseMalformedCall(event) ?? ((fastLane && await handleSingleCall(event)) || standardHandler(event)))
