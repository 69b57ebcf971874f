// One replay's clock and stop switch, shared by the reading of jobs and their sending: started
// when the replay starts, stopped by the abort signal or by a failed source, over at the end of
// `durationMs`.
import { performance } from 'node:perf_hooks'

export class ReplayRun {
  readonly startedMs = performance.now()
  readonly #deadlineMs: number
  #stopped = false
  readonly #signal: AbortSignal | undefined
  readonly #onAbort: () => void
  /** Resolves when the signal aborts (at once if it already has). */
  readonly aborted: Promise<void>

  constructor (durationMs: number | undefined, signal: AbortSignal | undefined) {
    this.#deadlineMs = durationMs === undefined ? Infinity : this.startedMs + durationMs
    this.#signal = signal
    let abort = (): void => {}
    this.aborted = new Promise(resolve => { abort = resolve })
    this.#onAbort = () => {
      this.#stopped = true
      abort()
    }
    if (signal?.aborted) this.#onAbort()
    else signal?.addEventListener('abort', this.#onAbort, { once: true })
  }

  get stopped (): boolean {
    return this.#stopped
  }

  stop (): void {
    this.#stopped = true
  }

  /** Past the duration. */
  expired (): boolean {
    return performance.now() >= this.#deadlineMs
  }

  /** Stopped or expired: nothing more is sent. */
  over (): boolean {
    return this.#stopped || this.expired()
  }

  /** Stops listening to the signal: from here on, `stopped` is what the summary reports. */
  end (): boolean {
    this.#signal?.removeEventListener('abort', this.#onAbort)
    return this.#stopped
  }
}
