import type { Unsubscribable } from '@trpc/server/observable'
import type { QueueStatus } from '~~/server/domain/queue/schemas'
import type { ProofMessage, ProofRequest } from '~~/workers/proof-of-work'
import { describeError } from './errors'

/** How often the page asks for its status while it has no live subscription (the socket is down). */
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
 * joining it (challenge → proof of work → join). The status comes live from `queue.onStatus` over the
 * tab's socket; while the socket is down (or the subscription was refused) it is read every 2 s.
 * `start()` and `stop()` bracket a page's interest.
 */
export function useQueue(couponId: number) {
  const { $trpc } = useNuxtApp()
  const connected = useState('live-connected', () => false)
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
  let subscription: Unsubscribable | null = null
  function subscribe() {
    subscription?.unsubscribe()
    subscription = $trpc.queue.onStatus.subscribe({ couponId }, {
      onData: (next) => {
        status.value = next
        problem.value = null
      },
      onError: () => { subscription = null }, // a full server, an outage: the poll below covers it
    })
  }
  function start() {
    void refresh()
    subscribe()
    timer ??= setInterval(() => {
      if ((!connected.value || !subscription) && document.visibilityState === 'visible' && !joining.value) void refresh()
    }, POLL_MS)
  }
  function stop() {
    subscription?.unsubscribe()
    subscription = null
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
      if (timer) subscribe() // the subscription started before the join: its instance reads the new place at once
    } catch (error) {
      problem.value = describeError(error)
    } finally {
      joining.value = false
    }
  }

  return { status, joining, progress, problem, join, refresh, start, stop }
}
