import { describeError } from './errors'

/**
 * One admin form step at a time (look up, redeem, grant): `busy` while it runs, and its outcome as a
 * sentence. A refusal shows `explain(error)` when given, else the reason in words.
 */
export function useAdminAction(explain: (error: unknown) => string = describeError) {
  const busy = ref(false)
  const outcome = ref<{ ok: boolean, text: string } | null>(null)

  async function run(step: () => Promise<void>) {
    if (busy.value) return
    busy.value = true
    outcome.value = null
    try {
      await step()
    } catch (error) {
      outcome.value = { ok: false, text: explain(error) }
    } finally {
      busy.value = false
    }
  }

  return { busy, outcome, run }
}
