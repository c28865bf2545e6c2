import type { QueueStatus } from '~~/server/domain/queue/schemas'
import type { ProofMessage, ProofRequest } from '~~/workers/proof-of-work'
import { describeError } from './errors'

/** How often the page asks for its status while it has no live subscription. */
const POLL_MS = 2_000

/**
 * Solves a join challenge in a Web Worker. `onProgress` gets the chance (0..1) that a solution would
 * have been found by now: with 2^difficulty tries expected, an honest bar that never stalls at 99 %.
 */
function solve(request: ProofRequest, onProgress: (share: number) => void): Promise<string> {
  const worker = new Worker(new URL('../workers/proof-of-work.ts', import.meta.url), { type: 'module' })
  const expected = 2 ** request.difficulty
  return new Promise<string>((resolve, reject) => {
    worker.onmessage = ({ data }: MessageEvent<ProofMessage>) => {
      onProgress(data.nonce === undefined ? 1 - Math.exp(-data.tried / expected) : 1)
      if (data.nonce !== undefined) resolve(data.nonce)
    }
    worker.onerror = (event) => reject(new Error(event.message || 'The proof of work failed'))
    worker.postMessage(request)
  }).finally(() => worker.terminate())
}

/**
 * A coupon's waiting room as the page sees it: the shopper's status (docs/api.md, QueueStatus), and
 * joining it (challenge → proof of work → join). The status is read now and then; `start()` and
 * `stop()` bracket a page's interest.
 */
export function useQueue(couponId: number) {
  const { $trpc } = useNuxtApp()
  const status = ref<QueueStatus | null>(null)
  const joining = ref(false)
  /** 0..1 while the proof of work runs. */
  const progress = ref(0)
  const problem = ref<string | null>(null)

  async function refresh() {
    try {
      status.value = await $trpc.queue.status.query({ couponId })
      problem.value = null
    } catch (error) {
      problem.value = describeError(error)
    }
  }

  let timer: ReturnType<typeof setInterval> | undefined
  function start() {
    void refresh()
    timer ??= setInterval(() => { if (document.visibilityState === 'visible' && !joining.value) void refresh() }, POLL_MS)
  }
  function stop() {
    clearInterval(timer)
    timer = undefined
  }

  async function join() {
    if (joining.value) return
    joining.value = true
    progress.value = 0
    problem.value = null
    try {
      const challenge = await $trpc.queue.challenge.mutate({ couponId })
      const nonce = await solve(challenge, (share) => { progress.value = share })
      status.value = await $trpc.queue.join.mutate({ couponId, challenge: challenge.challenge, nonce })
    } catch (error) {
      problem.value = describeError(error)
    } finally {
      joining.value = false
    }
  }

  return { status, joining, progress, problem, join, refresh, start, stop }
}
