/**
 * Coalesces concurrent calls with the same key into one: the first caller runs `work`, the others
 * await its promise. The entry is dropped as soon as it settles, so nothing is cached here.
 */
export function createSingleFlight<T>() {
  const inFlight = new Map<string, Promise<T>>()
  return function singleFlight(key: string, work: () => Promise<T>): Promise<T> {
    const running = inFlight.get(key)
    if (running) return running
    const promise = work().finally(() => inFlight.delete(key))
    inFlight.set(key, promise)
    return promise
  }
}
