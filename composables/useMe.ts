import type { NuxtApp } from '#app'
import { reasonOf } from './errors'

// One handler for the shared 'me' key, so every caller of useMe shares one request and one ref.
async function fetchMe(nuxtApp: NuxtApp) {
  try {
    return await nuxtApp.$trpc.user.me.query()
  } catch (error) {
    if (reasonOf(error) === 'UNAUTHORIZED') return null
    throw error
  }
}

/** The signed-in user ({ id, email, credit, isAdmin }) or null; refresh with refreshNuxtData('me'). */
export function useMe() {
  return useAsyncData('me', fetchMe, { default: () => null })
}
