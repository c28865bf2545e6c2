import { createTRPCNuxtHandler } from 'trpc-nuxt/server'
import { createContext } from '../../trpc/context'
import { retryAfterOf } from '../../trpc/errors'
import { appRouter } from '../../trpc/routers/_app'

export default createTRPCNuxtHandler({
  endpoint: '/api/trpc',
  router: appRouter,
  createContext,
  responseMeta({ errors }) {
    const retryAfter = errors.map(retryAfterOf).find((s) => s !== undefined)
    return retryAfter ? { headers: new Headers({ 'retry-after': String(retryAfter) }) } : {}
  },
  onError({ error, path }) {
    if (error.code === 'INTERNAL_SERVER_ERROR') console.error(JSON.stringify({ level: 'error', msg: 'procedure failed', path, error: String(error.cause ?? error) }))
  },
})
