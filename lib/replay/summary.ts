// What a replay reports: counts, statuses, transport errors by kind, latency and schedule lag
// (HdrHistogram in microseconds), as progress while it runs and as the summary at the end.
import { performance } from 'node:perf_hooks'
import * as hdr from 'hdr-histogram-js'
import type { ResolvedReplayOptions } from './options.js'

export interface ReplayProgress {
  sent: number
  answered: number
  errors: number
  elapsedMs: number
  rate: number
  /** Estimated ms left, when the total is known. */
  etaMs: number | null
}

export interface LatencySummary {
  p50: number
  p90: number
  p99: number
  p999: number
  max: number
  mean: number
}

export interface ReplaySummary {
  /** Records read from the archives (all loops), before filters. */
  read: number
  /** Records that passed the filters (all loops), before multiplying. */
  matched: number
  sent: number
  answered: number
  /** Count per status code. */
  statuses: Record<string, number>
  /** Transport errors by kind; `invalid`: recorded requests that cannot be sent as they are. */
  errors: { connect: number, timeout: number, reset: number, invalid: number, other: number }
  /** Answers whose status is in failStatus. */
  failedStatus: number
  /** Transport errors plus failed statuses. */
  failed: number
  /** Records with a recorded response status, and how many replies differed from it. */
  compared: number
  mismatched: number
  /** Milliseconds. */
  latency: LatencySummary
  durationMs: number
  /** Requests answered or failed per second. */
  achievedRate: number
  /** How late requests left compared with their schedule (rate and speed pacing), ms. */
  lag: { mean: number, p99: number, max: number } | null
  stopped: boolean
}

type ErrorKind = keyof ReplaySummary['errors']

/** The kind of a failed send, by the error's code (undici's, Node's, or ours for an unsendable request). */
function classify (err: unknown): ErrorKind {
  const code = (err as { code?: string }).code ?? ''
  if (code === 'FST_BLACKHOLE_REPLAY') return 'invalid'
  if (code === 'ECONNREFUSED' || code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'ENOTFOUND' || code === 'EHOSTUNREACH' || code === 'EAI_AGAIN') return 'connect'
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'ETIMEDOUT') return 'timeout'
  if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET' || code === 'EPIPE' || code === 'UND_ERR_CLOSED') return 'reset'
  return 'other'
}

/** Microseconds from 1 us to an hour, 3 significant digits. */
function histogram (): hdr.Histogram {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 3 })
}

const micros = (ms: number): number => Math.max(1, Math.round(ms * 1000))
const millis = (us: number): number => Math.round(us) / 1000
/** Percentiles are bucket upper bounds; the maximum is exact: never report a percentile above it. */
const percentile = (h: hdr.Histogram, p: number): number => millis(Math.min(h.getValueAtPercentile(p), h.maxValue))

type TallyOptions = Pick<ResolvedReplayOptions, 'isFailure' | 'pacing' | 'durationMs' | 'limit' | 'multiply' | 'loop'>

/** The figures of one replay, counted as it runs. */
export class ReplayTally {
  readonly #s: ReplaySummary = {
    read: 0,
    matched: 0,
    sent: 0,
    answered: 0,
    statuses: {},
    errors: { connect: 0, timeout: 0, reset: 0, invalid: 0, other: 0 },
    failedStatus: 0,
    failed: 0,
    compared: 0,
    mismatched: 0,
    latency: { p50: 0, p90: 0, p99: 0, p999: 0, max: 0, mean: 0 },
    durationMs: 0,
    achievedRate: 0,
    lag: null,
    stopped: false
  }

  readonly #latency = histogram()
  /** Concurrency pacing has no schedule to lag behind. */
  readonly #lag: hdr.Histogram | null

  constructor (private readonly o: TallyOptions, private readonly startedMs: number) {
    this.#lag = o.pacing.mode === 'concurrency' ? null : histogram()
  }

  read (): void {
    this.#s.read++
  }

  matched (): void {
    this.#s.matched++
  }

  /** A request leaves; `dueMs` is when the schedule wanted it to (performance.now() time). */
  sent (dueMs: number): void {
    this.#s.sent++
    this.#lag?.recordValue(micros(performance.now() - dueMs))
  }

  answered (status: number, recordedStatus: number, latencyMs: number): void {
    const s = this.#s
    this.#latency.recordValue(micros(latencyMs))
    s.answered++
    s.statuses[status] = (s.statuses[status] ?? 0) + 1
    if (this.o.isFailure(status)) s.failedStatus++
    if (recordedStatus !== 0) {
      s.compared++
      if (recordedStatus !== status) s.mismatched++
    }
  }

  failed (err: unknown): void {
    this.#s.errors[classify(err)]++
  }

  #errors (): number {
    const e = this.#s.errors
    return e.connect + e.timeout + e.reset + e.invalid + e.other
  }

  progress (): ReplayProgress {
    const s = this.#s
    const elapsedMs = performance.now() - this.startedMs
    const done = s.answered + this.#errors()
    const rate = elapsedMs > 0 ? done / (elapsedMs / 1000) : 0
    let etaMs: number | null = null
    if (this.o.durationMs !== undefined) etaMs = Math.max(0, this.o.durationMs - elapsedMs)
    else if (this.o.limit !== undefined && rate > 0) etaMs = Math.max(0, (this.o.limit * this.o.multiply * this.o.loop - done) / rate * 1000)
    return { sent: s.sent, answered: s.answered, errors: this.#errors() + s.failedStatus, elapsedMs, rate, etaMs }
  }

  /** The summary, once the last request has settled. */
  summary (stopped: boolean): ReplaySummary {
    const s = this.#s
    s.stopped = stopped
    s.durationMs = performance.now() - this.startedMs
    s.failed = this.#errors() + s.failedStatus
    s.achievedRate = s.durationMs > 0 ? (s.answered + this.#errors()) / (s.durationMs / 1000) : 0
    const latency = this.#latency
    if (latency.totalCount > 0) {
      s.latency = {
        p50: percentile(latency, 50),
        p90: percentile(latency, 90),
        p99: percentile(latency, 99),
        p999: percentile(latency, 99.9),
        max: millis(latency.maxValue),
        mean: millis(latency.mean)
      }
    }
    const lag = this.#lag
    if (lag !== null && lag.totalCount > 0) s.lag = { mean: millis(lag.mean), p99: percentile(lag, 99), max: millis(lag.maxValue) }
    return s
  }
}
