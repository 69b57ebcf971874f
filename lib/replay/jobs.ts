// The jobs of a replay, in order: the source read once per loop, filtered, cut at the limit,
// each record multiplied into copies, and under speed pacing each copy given the time it is
// due (the recorded gaps divided by the speed, a record's copies spread over the gap to the next).
import type { ArchiveRecord } from '../archive/reader.js'
import { ReplayError } from '../errors.js'
import type { RecordFilter } from './filter.js'
import type { Pacing, ResolvedReplayOptions } from './options.js'
import type { ReplayRun } from './run.js'
import type { ReplayTally } from './summary.js'

export interface Job {
  rec: ArchiveRecord
  copy: number
  loop: number
  /** Scheduled send time, ms after the start (speed pacing; 0 otherwise). */
  dueMs: number
}

/** Records of an archive kept in memory between loops, at most (approximate bytes). */
const LOOP_CACHE_BYTES = 256 << 20

/**
 * The records of a small source, kept during the first loop so that later loops (and the shaped
 * requests cached by record) skip reading, decompressing and decoding again.
 */
class LoopCache {
  #records: ArchiveRecord[] | null = []
  #bytes = 0
  #complete = false

  add (rec: ArchiveRecord): void {
    if (this.#records === null) return
    this.#bytes += rec.body.length + rec.headers.length + rec.uri.length + 256
    if (this.#bytes <= LOOP_CACHE_BYTES) this.#records.push(rec)
    else this.#records = null
  }

  /** Ends the first loop; a loop cut short (stop, limit) does not hold every record. */
  seal (readToTheEnd: boolean): void {
    this.#complete = readToTheEnd && this.#records !== null
  }

  /** Every record of the source, once sealed complete; else null (read the source again). */
  get records (): ArchiveRecord[] | null {
    return this.#complete ? this.#records : null
  }
}

/** Due times under speed pacing, on a virtual clock that starts where the previous loop ended. */
class RecordedTimes {
  #lastNs = -1n

  constructor (private readonly pacing: Extract<Pacing, { mode: 'speed' }>, public nowMs: number) {}

  dueOf (rec: ArchiveRecord): number {
    if (rec.timeNs === 0n) throw new ReplayError(`${rec.file}: record ${rec.id || '(no id)'} has no arrival time (blackhole's archives have none): use rate or concurrency pacing`)
    if (this.#lastNs < 0n) this.#lastNs = rec.timeNs
    let gapMs = Number(rec.timeNs - this.#lastNs) / 1e6
    if (gapMs < 0) gapMs = 0 // out of order across files: send at once
    if (this.pacing.maxWaitMs !== undefined && gapMs > this.pacing.maxWaitMs) gapMs = this.pacing.maxWaitMs
    if (rec.timeNs > this.#lastNs) this.#lastNs = rec.timeNs
    this.nowMs += gapMs / this.pacing.speed
    return this.nowMs
  }
}

/**
 * The copies of a record, due evenly from `fromMs` up to (not at) `toMs`. Callers loop over it
 * and yield each: `yield*` of a sync iterable in an async generator costs extra awaits per job.
 */
function * copies (rec: ArchiveRecord, loop: number, multiply: number, fromMs: number, toMs: number): Generator<Job> {
  for (let copy = 0; copy < multiply; copy++) yield { rec, copy, loop, dueMs: fromMs + (toMs - fromMs) * copy / multiply }
}

type JobOptions = Pick<ResolvedReplayOptions, 'pacing' | 'loop' | 'durationMs' | 'limit' | 'multiply'>

export async function * replayJobs (
  o: JobOptions, source: () => AsyncIterable<ArchiveRecord>, filter: RecordFilter, tally: ReplayTally, run: ReplayRun
): AsyncGenerator<Job> {
  const cache = o.durationMs !== undefined || o.loop > 1 ? new LoopCache() : null
  let loopStartMs = 0
  for (let loop = 0; o.durationMs !== undefined || loop < o.loop; loop++) {
    if (run.stopped) break
    filter.reset()
    const filling = loop === 0 ? cache : null
    const times = o.pacing.mode === 'speed' ? new RecordedTimes(o.pacing, loopStartMs) : null
    let taken = 0
    let readToTheEnd = true
    // Under speed pacing a record's copies go out once the next record tells how long its gap is.
    let prev: ArchiveRecord | null = null
    let prevDueMs = loopStartMs
    for await (const rec of cache?.records ?? source()) {
      filling?.add(rec)
      tally.read()
      if (run.over()) {
        readToTheEnd = false
        break
      }
      if (!filter.match(rec)) continue
      if (o.limit !== undefined && taken >= o.limit) {
        readToTheEnd = false
        break
      }
      taken++
      tally.matched()
      if (times === null) {
        for (const job of copies(rec, loop, o.multiply, 0, 0)) yield job
        continue
      }
      const dueMs = times.dueOf(rec)
      if (prev !== null) for (const job of copies(prev, loop, o.multiply, prevDueMs, dueMs)) yield job
      prev = rec
      prevDueMs = dueMs
    }
    if (prev !== null) for (const job of copies(prev, loop, o.multiply, prevDueMs, prevDueMs)) yield job
    filling?.seal(readToTheEnd)
    loopStartMs = times?.nowMs ?? loopStartMs
    if (taken === 0) break // nothing matched: looping again would spin
    if (run.expired()) break
  }
}
