// What a replay is asked to do, and the one check of it. Every rule on the options lives in
// resolveReplayOptions: replay() calls it, and so do the CLI and the HTTP routes before they
// start anything, so that all three accept and refuse the same options.
import type { ArchiveRecord, ArchiveSources } from '../archive/reader.js'
import { ReplayError, type CodedError } from '../errors.js'
import type { ReplayFilter } from './filter.js'
import type { OutgoingRequest, Rewrites } from './request.js'
import { isShard, type Shard } from './shard.js'
import type { ReplayProgress } from './summary.js'

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

/** Replay options checked, with every default filled in. */
export interface ResolvedReplayOptions extends Omit<ReplayOptions, 'target' | 'pacing' | 'connections' | 'loop' | 'multiply' | 'timeoutMs' | 'insecure' | 'failStatus' | 'maxInFlight' | 'drainMs' | 'progressMs'> {
  /** The target; for inject and dry runs without one, a placeholder whose path is `/`. */
  target: URL
  pacing: Pacing
  connections: number
  loop: number
  multiply: number
  timeoutMs: number
  insecure: boolean
  /** Whether an answer with this status counts as failed (failStatus). */
  isFailure: (status: number) => boolean
  maxInFlight: number
  drainMs: number
  progressMs: number
}

/**
 * A ReplayError about one option: `option` is its path in ReplayOptions (`loop`,
 * `pacing.rate`...) and the message is `${option} ${problem}`, so that a caller that sets the
 * option under another name (a CLI flag) can say the same with its own name.
 */
export interface ReplayOptionError extends CodedError {
  readonly option: string
  readonly problem: string
}

/** The message of a ReplayError, with the option it is about named as the caller names it in `names`, if there. */
export function replayErrorMessage (err: CodedError, names: ReadonlyMap<string, string>): string {
  const { option, problem } = err as Partial<ReplayOptionError>
  const name = option === undefined ? undefined : names.get(option)
  return name === undefined || problem === undefined ? err.message : `${name} ${problem}`
}

/** The library's own ceilings: past them a replay would exhaust the process, not test a target. */
const MAX_CONCURRENCY = 10_000
const MAX_MULTIPLY = 1_000_000

function invalid (option: string, problem: string): ReplayOptionError {
  return Object.assign(new ReplayError(`${option} ${problem}`), { option, problem })
}

// Each message names the one bound broken: callers with tighter ceilings of their own (the
// HTTP routes) then never contradict them.
function integer (option: string, value: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!Number.isSafeInteger(value)) throw invalid(option, `must be an integer, got ${value}`)
  if (value < min) throw invalid(option, `must be at least ${min}, got ${value}`)
  if (value > max) throw invalid(option, `must be at most ${max}, got ${value}`)
  return value
}

function positive (option: string, value: number): number {
  if (Number.isFinite(value) && value > 0) return value
  throw invalid(option, `must be a positive number, got ${value}`)
}

function milliseconds (option: string, value: number, min: number): number {
  if (!Number.isFinite(value)) throw invalid(option, `must be a number of milliseconds, got ${value}`)
  if (value < min) throw invalid(option, `must be at least ${min} ms, got ${value}`)
  return value
}

const optional = <T>(value: T | undefined, check: (v: T) => T): T | undefined => value === undefined ? undefined : check(value)

function resolvePacing (p: Pacing | undefined): Pacing {
  switch (p?.mode) {
    case undefined:
      return { mode: 'concurrency', concurrency: 16 }
    case 'concurrency':
      return { mode: 'concurrency', concurrency: integer('pacing.concurrency', p.concurrency, 1, MAX_CONCURRENCY) }
    case 'rate':
      return { mode: 'rate', rate: positive('pacing.rate', p.rate) }
    case 'speed': {
      const maxWaitMs = optional(p.maxWaitMs, v => milliseconds('pacing.maxWaitMs', v, 0))
      return { mode: 'speed', speed: positive('pacing.speed', p.speed), ...(maxWaitMs !== undefined ? { maxWaitMs } : {}) }
    }
    default:
      throw invalid('pacing', `mode must be concurrency, rate or speed, got ${JSON.stringify(p)}`)
  }
}

function resolveTarget (o: ReplayOptions): URL {
  if (o.target === undefined) {
    if (o.inject === undefined && o.dryRun === undefined) throw new ReplayError('give a target URL (or inject, or dryRun)')
    return new URL('http://inject.invalid/')
  }
  let url: URL | null = null
  try {
    url = new URL(o.target)
  } catch {
    // not a URL: refused below, as any other scheme
  }
  if (url === null || (url.protocol !== 'http:' && url.protocol !== 'https:')) throw invalid('target', `must be an http or https URL, got ${o.target}`)
  return url
}

/** failStatus as a test of a status: codes (503), classes (5xx), or none. */
function failureTest (list: readonly string[]): (status: number) => boolean {
  const exact = new Set<number>()
  const classes = new Set<number>()
  for (const item of list) {
    const m = /^([1-5])xx$/i.exec(item)
    if (m) classes.add(Number(m[1]))
    else if (/^\d{3}$/.test(item)) exact.add(Number(item))
    else if (item !== 'none') throw invalid('failStatus', `entry '${item}' is not a status code, a class like 5xx, or none`)
  }
  return (s) => exact.has(s) || classes.has(Math.floor(s / 100))
}

function checkShard (shard: Shard): Shard {
  if (isShard(shard)) return shard
  throw invalid('shard', `must be { index, count } with 1 <= index <= count, got ${JSON.stringify(shard)}`)
}

function checkFilter (f: ReplayFilter): ReplayFilter {
  if (f.sample !== undefined && !(f.sample >= 0 && f.sample <= 1)) throw invalid('filter.sample', `must be a number from 0 to 1, got ${f.sample}`)
  if (f.seed !== undefined && !Number.isSafeInteger(f.seed)) throw invalid('filter.seed', `must be an integer, got ${f.seed}`)
  return f
}

/**
 * Checks every rule on replay options and fills in the defaults. Throws a ReplayError (code
 * FST_BLACKHOLE_REPLAY); when the problem is one option, a ReplayOptionError naming it.
 */
export function resolveReplayOptions (o: ReplayOptions): ResolvedReplayOptions {
  if (o.paths === undefined && o.records === undefined) throw new ReplayError('nothing to replay: give paths or records')
  const target = resolveTarget(o)
  const pacing = resolvePacing(o.pacing)
  return {
    ...o,
    target,
    pacing,
    connections: integer('connections', o.connections ?? (pacing.mode === 'concurrency' ? pacing.concurrency : 64), 1, MAX_CONCURRENCY),
    loop: integer('loop', o.loop ?? 1, 1),
    durationMs: optional(o.durationMs, v => milliseconds('durationMs', v, 1)),
    multiply: integer('multiply', o.multiply ?? 1, 1, MAX_MULTIPLY),
    limit: optional(o.limit, v => integer('limit', v, 1)),
    filter: optional(o.filter, checkFilter),
    shard: optional(o.shard, checkShard),
    timeoutMs: milliseconds('timeoutMs', o.timeoutMs ?? 30_000, 1),
    insecure: o.insecure === true,
    isFailure: failureTest(o.failStatus ?? ['5xx']),
    maxInFlight: integer('maxInFlight', o.maxInFlight ?? 10_000, 1),
    drainMs: milliseconds('drainMs', o.drainMs ?? 5000, 0),
    progressMs: milliseconds('progressMs', o.progressMs ?? 250, 1)
  }
}
