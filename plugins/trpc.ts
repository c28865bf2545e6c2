import { createTRPCNuxtClient, httpBatchLink } from 'trpc-nuxt/client'
import type { AppRouter } from '~~/server/trpc/routers/_app'

export default defineNuxtPlugin({
  name: 'trpc',
  setup() {
    const trpc = createTRPCNuxtClient<AppRouter>({
      links: [httpBatchLink({ url: '/api/trpc', maxItems: 10 })], // the server refuses batches of more (maxBatchSize)
    })
    return { provide: { trpc } }
  },
})
