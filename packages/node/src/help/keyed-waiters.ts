/**
 * Callers waiting, under a key, for something that arrives with a message (a session opening, an
 * accept naming a helper): each waits at most its time-out, and at most `max` wait at once.
 */
interface Waiter<T, D> {
  detail: D
  done: (value: T | undefined) => void
}

export class KeyedWaiters<T, D = undefined> {
  readonly #max: number
  readonly #byKey = new Map<string, Set<Waiter<T, D>>>()
  #count = 0

  constructor(max: number) {
    this.#max = max
  }

  /**
   * Wait under `key` for up to `timeoutMs`: resolves with what `wake` gives it, or undefined at
   * the time-out or on `wakeAll(undefined)`. Undefined at once (no promise) when `max` wait already.
   */
  wait(key: string, timeoutMs: number, detail: D): Promise<T | undefined> | undefined {
    if (this.#count >= this.#max) return undefined
    let set = this.#byKey.get(key)
    if (set === undefined) {
      set = new Set()
      this.#byKey.set(key, set)
    }
    const waiters = set
    this.#count++
    return new Promise(resolve => {
      const w: Waiter<T, D> = {
        detail,
        done: value => {
          clearTimeout(timer)
          if (!waiters.delete(w)) return
          this.#count--
          if (waiters.size === 0 && this.#byKey.get(key) === waiters) this.#byKey.delete(key)
          resolve(value)
        }
      }
      const timer = setTimeout(() => {
        w.done(undefined)
      }, timeoutMs)
      waiters.add(w)
    })
  }

  /** Resolve each waiter under `key` for which `pick` gives a value (the others wait on). */
  wake(key: string, pick: (detail: D) => T | undefined): void {
    for (const w of this.#byKey.get(key) ?? []) {
      const value = pick(w.detail)
      if (value !== undefined) w.done(value) // deletes itself: safe for a Set
    }
  }

  /** Resolve every waiter with `value` (shutdown: undefined). */
  wakeAll(value: T | undefined): void {
    for (const set of this.#byKey.values()) for (const w of set) w.done(value)
  }
}
