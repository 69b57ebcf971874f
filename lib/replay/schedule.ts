// When each job is sent. Concurrency pacing: `concurrency` workers, each sending its next job
// once its previous request has settled. Rate and speed pacing (the open model): each job at its
// due time, whether or not the target keeps up, with at most maxInFlight requests outstanding
// (past it the schedule lags, and the summary says by how much). Once stopped, the requests in
// flight get drainMs to settle.
import { performance } from 'node:perf_hooks'
import type { Job } from './jobs.js'
import type { ResolvedReplayOptions } from './options.js'
import type { ReplayRun } from './run.js'

/** Sends a job due at `dueMs` (performance.now() time; 0 for concurrency pacing). Never rejects for a failed request. */
export type SendJob = (job: Job, dueMs: number) => Promise<void>

const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

/** Requests sent and not yet settled. */
class InFlight {
  readonly #requests = new Set<Promise<void>>()

  add (p: Promise<void>): void {
    this.#requests.add(p)
    p.finally(() => this.#requests.delete(p)).catch(() => {})
  }

  /** Waits until fewer than `max` are in flight. */
  async below (max: number): Promise<void> {
    while (this.#requests.size >= max) await Promise.race(this.#requests)
  }

  /** Waits for every one of them, or at most `limitMs`. */
  async settle (limitMs: number): Promise<void> {
    const all = Promise.all(this.#requests)
    if (limitMs < Infinity && this.#requests.size > 0) await Promise.race([all, sleep(limitMs)])
    else await all
  }
}

export async function sendOnSchedule (
  o: Pick<ResolvedReplayOptions, 'pacing' | 'maxInFlight' | 'drainMs'>, jobs: AsyncGenerator<Job>, send: SendJob, run: ReplayRun
): Promise<void> {
  const inFlight = new InFlight()
  try {
    if (o.pacing.mode === 'concurrency') await byWorkers(o.pacing.concurrency, jobs, send, run, inFlight)
    else await onTime(o, jobs, send, run, inFlight)
  } finally {
    await inFlight.settle(run.end() ? o.drainMs : Infinity)
  }
}

async function byWorkers (concurrency: number, jobs: AsyncGenerator<Job>, send: SendJob, run: ReplayRun, inFlight: InFlight): Promise<void> {
  let sourceError: unknown = null
  const worker = async (): Promise<void> => {
    while (!run.over()) {
      let next
      try {
        next = await jobs.next()
      } catch (err) {
        sourceError ??= err
        run.stop()
        return
      }
      if (next.done) return
      const p = send(next.value, 0)
      inFlight.add(p)
      await p
    }
  }
  // On stop, requests in flight get drainMs (in the caller), not their full timeout.
  await Promise.race([Promise.all(Array.from({ length: concurrency }, worker)), run.aborted])
  // Stopping early leaves the generator suspended inside the archive reader: close it.
  await jobs.return(undefined).catch(() => {})
  if (sourceError !== null) throw sourceError
}

async function onTime (o: Pick<ResolvedReplayOptions, 'pacing' | 'maxInFlight'>, jobs: AsyncGenerator<Job>, send: SendJob, run: ReplayRun, inFlight: InFlight): Promise<void> {
  const pacing = o.pacing
  let slot = 0
  // (for await closes the generator, and with it the archive file, when the loop breaks.)
  for await (const job of jobs) {
    if (run.over()) break
    const dueMs = run.startedMs + (pacing.mode === 'rate' ? (slot++ * 1000) / pacing.rate : job.dueMs)
    const wait = dueMs - performance.now()
    if (wait > 1) await sleep(wait)
    await inFlight.below(o.maxInFlight)
    if (run.stopped) break
    inFlight.add(send(job, dueMs))
  }
}
