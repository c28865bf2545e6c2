import { fetchMe } from '~/composables/useMe'

/**
 * On pages rendered per request, the server asks who is signed in (only when the request carries
 * credentials at all). A shared render (route rules' cache, `event.context.cache`) runs without the
 * visitor's cookies and must hold nobody's data: it leaves the viewer unknown for the client to ask.
 */
export default defineNuxtPlugin({
  name: 'viewer',
  dependsOn: ['trpc'],
  async setup() {
    if (!import.meta.server) return
    const event = useRequestEvent()
    if (!event || event.context.cache) return
    const { data, known } = useMe()
    const headers = event.node.req.headers
    if (headers.cookie || headers.authorization) data.value = await fetchMe(useNuxtApp())
    known.value = true
  },
})
