// The replay engine: reads recorded requests, filters and rewrites them, and sends them to a
// target with undici's pooled keep-alive client (or into a Fastify instance with inject), paced
// by concurrency, by an open-model rate, or by the recorded arrival times times a speed factor.
import { performance } from 'node:perf_hooks'
import { Pool } from 'undici'
import * as hdr from 'hdr-histogram-js'
import type { ArchiveRecord, ArchiveSources } from '../archive/reader.js'
import { readShard, type Shard } from './shard.js'
import { RecordFilter, type ReplayFilter } from './filter.js'
import { invalidReason, RequestShaper, type OutgoingRequest, type Rewrites } from './request.js'

export type Pacing =
  | { mode: 'concurrency', concurrency: number }
  | { mode: 'rate', rate: number }
  | { mode: 'speed', speed: number, maxWaitMs?: number }

/** Something that answers requests: undici's pool, or a Fastify instance through inject. */
export interface InjectTarget {
  inject (opts: { method: string, url: string, headers: Record<string, string | string[]>, payload?: Buffer }): Promise<{ statusCode: number }>
}

export interface ReplayOptions {
  /** Archive files or directories (read again for each loop). */
  paths?: string[]
  /** Only this share of the files under `paths` (see lib/replay/shard.ts); n processes with 1/n..n/n replay each file once. */
  shard?: Shard
  /** Where `paths` are listed and opened (s3:// objects with its S3 client). Default: `archiveSources()`. */
  sources?: ArchiveSources
  /** Or any source of records (called once per loop). */
  records?: () => AsyncIterable<ArchiveRecord>
  /** Target URL: http or https, with an optional base path. Required unless `inject`. */
  target?: string
  /** Replay into a Fastify instance with inject() instead of sockets (deterministic tests). */
  inject?: InjectTarget
  pacing?: Pacing
  /** Connections in the pool. Default: the concurrency, or 64 for rate and speed pacing. */
  connections?: number
  /** Replay the set this many times. Default 1. */
  loop?: number
  /** Or keep looping until this much time has passed. */
  durationMs?: number
  /** Send each request this many times, spread over the same schedule. Default 1. */
  multiply?: number
  /** Stop after this many records taken from the archive per loop (before multiplying). */
  limit?: number
  filter?: ReplayFilter
  rewrite?: Rewrites
  /** Per-request timeout for headers and body. Default 30 s. */
  timeoutMs?: number
  /** Accept any TLS certificate (test targets). Default false. */
  insecure?: boolean
  /** Statuses counted as failures: a list of codes or classes like '5xx'. Default ['5xx']. */
  failStatus?: string[]
  /** Requests in flight at most in rate/speed pacing; past it the schedule lags (reported). Default 10000. */
  maxInFlight?: number
  /** Stops sending; requests in flight get `drainMs` to finish. */
  signal?: AbortSignal
  drainMs?: number
  /** Called about every `progressMs` with the figures so far. */
  onProgress?: (p: ReplayProgress) => void
  progressMs?: number
  /** Called for each request instead of sending it (`--dry-run`). */
  dryRun?: (req: OutgoingRequest) => void
}

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

interface Job {
  rec: ArchiveRecord
  copy: number
  loop: number
  /** Scheduled send time, ms after the start (rate and speed pacing). */
  dueMs: number
}

class ReplayError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'ReplayError'
  }
}

function classify (err: unknown): keyof ReplaySummary['errors'] {
  const code = (err as { code?: string }).code ?? ''
  if (code === 'ECONNREFUSED' || code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'ENOTFOUND' || code === 'EHOSTUNREACH' || code === 'EAI_AGAIN') return 'connect'
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'ETIMEDOUT') return 'timeout'
  if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET' || code === 'EPIPE' || code === 'UND_ERR_CLOSED') return 'reset'
  return 'other'
}

function statusMatcher (list: string[]): (s: number) => boolean {
  const exact = new Set<number>()
  const classes = new Set<number>()
  for (const item of list) {
    const m = /^([1-5])xx$/i.exec(item)
    if (m) classes.add(Number(m[1]))
    else if (/^\d{3}$/.test(item)) exact.add(Number(item))
    else if (item !== 'none') throw new ReplayError(`failStatus entry '${item}' is not a status code, a class like 5xx, or none`)
  }
  return (s) => exact.has(s) || classes.has(Math.floor(s / 100))
}

const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

/**
 * Sends one request with Pool.dispatch and resolves with the status once the response body has
 * been read and discarded: no response stream per request (Pool.request makes one).
 */
function send (pool: Pool, req: OutgoingRequest): Promise<number> {
  return new Promise((resolve, reject) => {
    let status = 0
    // undici 7's Pool still validates the classic handler interface (onConnect...): use it.
    pool.dispatch({ path: req.path, method: req.method, headers: req.headers, body: req.body }, {
      onConnect () {},
      onHeaders (statusCode) {
        status = statusCode
        return true
      },
      onData () { return true },
      onComplete () { resolve(status) },
      onError (err) { reject(err) }
    })
  })
}

/** Records of an archive kept in memory between loops, at most (approximate bytes). */
const LOOP_CACHE_BYTES = 256 << 20

function histogram (): hdr.Histogram {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 3 })
}

export async function replay (opts: ReplayOptions): Promise<ReplaySummary> {
  const pacing: Pacing = opts.pacing ?? { mode: 'concurrency', concurrency: 16 }
  const loops = opts.loop ?? 1
  const multiply = opts.multiply ?? 1
  const timeoutMs = opts.timeoutMs ?? 30_000
  const failing = statusMatcher(opts.failStatus ?? ['5xx'])
  if (opts.paths === undefined && opts.records === undefined) throw new ReplayError('nothing to replay: give paths or records')
  if (opts.target === undefined && opts.inject === undefined && opts.dryRun === undefined) throw new ReplayError('give a target URL (or inject, or dryRun)')
  if (!(Number.isInteger(multiply) && multiply >= 1)) throw new ReplayError(`multiply must be an integer >= 1, got ${multiply}`)
  if (!(Number.isInteger(loops) && loops >= 1)) throw new ReplayError(`loop must be an integer >= 1, got ${loops}`)
  const target = opts.target !== undefined ? new URL(opts.target) : new URL('http://inject.invalid/')
  if (target.protocol !== 'http:' && target.protocol !== 'https:') throw new ReplayError(`target must be an http or https URL, got ${opts.target}`)
  const shaper = new RequestShaper(target, opts.rewrite)
  const filter = new RecordFilter(opts.filter)
  if (opts.shard !== undefined && !(Number.isSafeInteger(opts.shard.count) && opts.shard.count >= 1 && Number.isSafeInteger(opts.shard.index) && opts.shard.index >= 1 && opts.shard.index <= opts.shard.count)) {
    throw new ReplayError(`shard must be { index, count } with 1 <= index <= count, got ${JSON.stringify(opts.shard)}`)
  }
  const source = opts.records ?? (() => readShard(opts.paths as string[], opts.shard, { sources: opts.sources }))

  const connections = opts.connections ?? (pacing.mode === 'concurrency' ? pacing.concurrency : 64)
  const pool = opts.inject === undefined && opts.dryRun === undefined
    ? new Pool(target.origin, {
      connections,
      pipelining: 1,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      connect: { rejectUnauthorized: !opts.insecure, timeout: Math.min(timeoutMs, 10_000) }
    })
    : null

  const s: ReplaySummary = {
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
  const latency = histogram()
  const lag = pacing.mode === 'concurrency' ? null : histogram()
  let stopped = false
  const onAbort = (): void => { stopped = true }
  opts.signal?.addEventListener('abort', onAbort, { once: true })
  if (opts.signal?.aborted) stopped = true
  const started = performance.now()
  const deadline = opts.durationMs !== undefined ? started + opts.durationMs : Infinity
  let seq = 0

  // Jobs in order, each with its scheduled time. Loops re-read the source; copies of a record
  // are spread over the gap to the next record (speed pacing) or over the rate's slots.
  async function * jobs (): AsyncGenerator<Job> {
    let loopStartMs = 0
    // The records of a small archive are kept after the first loop, so later loops (and the
    // shaped requests cached by record) skip reading, decompressing and decoding again.
    const looping = opts.durationMs !== undefined || loops > 1
    let cache: ArchiveRecord[] | null = looping ? [] : null
    let cacheBytes = 0
    let cacheComplete = false
    for (let loop = 0; opts.durationMs !== undefined || loop < loops; loop++) {
      if (stopped) break
      filter.reset()
      const records = cacheComplete ? cache as ArchiveRecord[] : source()
      const filling = loop === 0 && cache !== null
      let taken = 0
      let firstNs = -1n
      let prev: ArchiveRecord | null = null
      let prevDue = loopStartMs
      let virt = loopStartMs
      let lastNs = 0n
      let ended = true
      for await (const rec of records) {
        if (filling && cache !== null) {
          cacheBytes += rec.body.length + rec.headers.length + rec.uri.length + 256
          if (cacheBytes <= LOOP_CACHE_BYTES) cache.push(rec)
          else cache = null
        }
        s.read++
        if (stopped || performance.now() >= deadline) {
          ended = false
          break
        }
        if (!filter.match(rec)) continue
        if (opts.limit !== undefined && taken >= opts.limit) {
          ended = false
          break
        }
        taken++
        s.matched++
        if (pacing.mode === 'speed') {
          if (rec.timeNs === 0n) throw new ReplayError(`${rec.file}: record ${rec.id || '(no id)'} has no arrival time (blackhole's archives have none): use rate or concurrency pacing`)
          if (firstNs < 0n) {
            firstNs = rec.timeNs
            lastNs = rec.timeNs
          }
          let gapMs = Number(rec.timeNs - lastNs) / 1e6
          if (gapMs < 0) gapMs = 0 // out of order across files: send at once
          if (pacing.maxWaitMs !== undefined && gapMs > pacing.maxWaitMs) gapMs = pacing.maxWaitMs
          lastNs = rec.timeNs > lastNs ? rec.timeNs : lastNs
          virt += gapMs / pacing.speed
          if (prev !== null) {
            for (let c = 0; c < multiply; c++) yield { rec: prev, copy: c, loop, dueMs: prevDue + (virt - prevDue) * c / multiply }
          }
          prev = rec
          prevDue = virt
        } else {
          for (let c = 0; c < multiply; c++) yield { rec, copy: c, loop, dueMs: 0 }
        }
      }
      if (prev !== null) for (let c = 0; c < multiply; c++) yield { rec: prev, copy: c, loop, dueMs: prevDue }
      if (filling) cacheComplete = ended && cache !== null
      loopStartMs = virt
      if (taken === 0) break // nothing matched: looping again would spin
      if (performance.now() >= deadline) break
    }
  }

  // Shaped requests are cached by record, and so is this check.
  const checked = new WeakMap<OutgoingRequest, boolean>()
  function invalid (req: OutgoingRequest): boolean {
    let bad = checked.get(req)
    if (bad === undefined) checked.set(req, bad = invalidReason(req) !== null)
    return bad
  }

  async function sendOne (job: Job, dueAbs: number): Promise<void> {
    const n = ++seq
    const req = shaper.shape(job.rec, { n, copy: job.copy, loop: job.loop })
    s.sent++
    if (lag !== null) lag.recordValue(Math.max(1, Math.round((performance.now() - dueAbs) * 1000)))
    if (opts.dryRun !== undefined) {
      opts.dryRun(req)
      return
    }
    if (pool !== null && invalid(req)) {
      s.errors.invalid++
      return
    }
    const t0 = performance.now()
    try {
      let status: number
      if (pool !== null) {
        status = await send(pool, req)
      } else {
        const headers: Record<string, string | string[]> = {}
        for (let i = 0; i < req.headers.length; i += 2) {
          const k = req.headers[i].toLowerCase()
          const prev = headers[k]
          headers[k] = prev === undefined ? req.headers[i + 1] : ([] as string[]).concat(prev, req.headers[i + 1])
        }
        const res = await (opts.inject as InjectTarget).inject({ method: req.method, url: req.path, headers, ...(req.body ? { payload: req.body } : {}) })
        status = res.statusCode
      }
      latency.recordValue(Math.max(1, Math.round((performance.now() - t0) * 1000)))
      s.answered++
      s.statuses[status] = (s.statuses[status] ?? 0) + 1
      if (failing(status)) s.failedStatus++
      if (req.recordedStatus !== 0) {
        s.compared++
        if (req.recordedStatus !== status) s.mismatched++
      }
    } catch (err) {
      s.errors[classify(err)]++
    }
  }

  let progressTimer: NodeJS.Timeout | null = null
  if (opts.onProgress !== undefined) {
    const progress = opts.onProgress
    progressTimer = setInterval(() => progress(snapshot()), opts.progressMs ?? 250)
    progressTimer.unref()
  }
  function snapshot (): ReplayProgress {
    const elapsedMs = performance.now() - started
    const done = s.answered + errorsCount()
    const rate = elapsedMs > 0 ? done / (elapsedMs / 1000) : 0
    let etaMs: number | null = null
    if (opts.durationMs !== undefined) etaMs = Math.max(0, opts.durationMs - elapsedMs)
    else if (opts.limit !== undefined && rate > 0) etaMs = Math.max(0, (opts.limit * multiply * loops - done) / rate * 1000)
    return { sent: s.sent, answered: s.answered, errors: errorsCount() + s.failedStatus, elapsedMs, rate, etaMs }
  }
  const errorsCount = (): number => s.errors.connect + s.errors.timeout + s.errors.reset + s.errors.invalid + s.errors.other

  const inFlight = new Set<Promise<void>>()
  const track = (p: Promise<void>): void => {
    inFlight.add(p)
    p.finally(() => inFlight.delete(p)).catch(() => {})
  }
  try {
    if (pacing.mode === 'concurrency') {
      const it = jobs()
      let sourceError: unknown = null
      const worker = async (): Promise<void> => {
        for (;;) {
          if (stopped || performance.now() >= deadline) return
          let next
          try {
            next = await it.next()
          } catch (err) {
            sourceError ??= err
            stopped = true
            return
          }
          if (next.done) return
          const p = sendOne(next.value, 0)
          track(p)
          await p
        }
      }
      const workers = Promise.all(Array.from({ length: pacing.concurrency }, worker))
      // On stop, requests in flight get drainMs (below), not their full timeout.
      await Promise.race([workers, new Promise<void>(resolve => {
        if (stopped) resolve()
        opts.signal?.addEventListener('abort', () => resolve(), { once: true })
      })])
      // Stopping early leaves the generator suspended inside the archive reader: close it.
      await it.return(undefined).catch(() => {})
      if (sourceError !== null) throw sourceError
    } else {
      const maxInFlight = opts.maxInFlight ?? 10_000
      let i = 0
      // (for await closes the generator, and with it the archive file, when the loop breaks.)
      for await (const job of jobs()) {
        if (stopped || performance.now() >= deadline) break
        const dueRel = pacing.mode === 'rate' ? (i++ * 1000) / pacing.rate : job.dueMs
        const dueAbs = started + dueRel
        const wait = dueAbs - performance.now()
        if (wait > 1) await sleep(wait)
        while (inFlight.size >= maxInFlight) await Promise.race(inFlight)
        if (stopped) break
        track(sendOne(job, dueAbs))
      }
    }
  } finally {
    s.stopped = stopped
    const drain = Promise.all(inFlight)
    if (stopped && inFlight.size > 0) await Promise.race([drain, sleep(opts.drainMs ?? 5000)])
    else await drain
    if (progressTimer !== null) clearInterval(progressTimer)
    opts.signal?.removeEventListener('abort', onAbort)
    if (pool !== null) await pool.destroy().catch(() => {})
  }

  s.durationMs = performance.now() - started
  s.failed = errorsCount() + s.failedStatus
  s.achievedRate = s.durationMs > 0 ? (s.answered + errorsCount()) / (s.durationMs / 1000) : 0
  const ms = (us: number): number => Math.round(us) / 1000
  // Percentiles are bucket upper bounds; the maximum is exact: never report a percentile above it.
  const pct = (h: hdr.Histogram, p: number): number => ms(Math.min(h.getValueAtPercentile(p), h.maxValue))
  if (latency.totalCount > 0) {
    s.latency = {
      p50: pct(latency, 50),
      p90: pct(latency, 90),
      p99: pct(latency, 99),
      p999: pct(latency, 99.9),
      max: ms(latency.maxValue),
      mean: ms(latency.mean)
    }
  }
  if (lag !== null && lag.totalCount > 0) s.lag = { mean: ms(lag.mean), p99: pct(lag, 99), max: ms(lag.maxValue) }
  return s
}

export { ReplayError }
