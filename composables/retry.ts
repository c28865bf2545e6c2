import { reasonOf } from './errors'

const RETRYABLE = new Set(['TRY_AGAIN_LATER'])

/**
 * Runs `call`, retrying TRY_AGAIN_LATER (the server answers it while another instance rebuilds a cache
 * page) with exponential backoff and full jitter, so retrying shoppers do not arrive in lockstep.
 */
export async function withRetry<T>(call: () => Promise<T>, attempts = 4, baseMs = 150): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call()
    } catch (error) {
      if (attempt >= attempts || !RETRYABLE.has(reasonOf(error) ?? '')) throw error
      const ceiling = baseMs * 2 ** attempt
      await new Promise((resolve) => setTimeout(resolve, ceiling / 2 + Math.random() * ceiling / 2))
    }
  }
}
