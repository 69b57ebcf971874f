// A summary of an archive in one streaming pass: counts, time span, request rate over time,
// methods, top paths, status codes and the body size distribution. Memory does not grow with
// the number of records, except the per-path counts, which are capped (MAX_TRACKED_PATHS).
import { decodeRaw, listArchiveFiles, readFileRecords, type ReadOptions } from '../archive/reader.js'
import { isoTimeNs } from './dump.js'
import type { DecodedRequest } from '../format/record.js'

/** Distinct paths counted one by one; later new paths are counted together as "other paths". */
export const MAX_TRACKED_PATHS = 10_000
/** Distinct methods counted one by one; later new ones are counted under "(other)". */
export const MAX_TRACKED_METHODS = 100
/** Time buckets kept while reading; past this they are merged into coarser ones. */
const MAX_TIME_BUCKETS = 100_000
/** The rate table has at most this many rows. */
const MAX_RATE_ROWS = 30
/** Bucket widths for the rate table, in seconds. */
const RATE_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800]
/** Coarsening steps for the buckets kept while reading: second, minute, hour, day, week. */
const KEEP_STEPS = [1, 60, 3600, 86400, 604800]

/** Size classes of the body size table: [label, upper bound exclusive]. */
const SIZE_CLASSES: Array<[string, number]> = [
  ['0 B', 1],
  ['1 B - 1 KiB', 1024],
  ['1 KiB - 16 KiB', 16 << 10],
  ['16 KiB - 256 KiB', 256 << 10],
  ['256 KiB - 4 MiB', 4 << 20],
  ['4 MiB - 64 MiB', 64 << 20],
  ['64 MiB and more', Infinity]
]

/** Body sizes below this are counted exactly; above, in log buckets of 1/64 octave (< 1.1% wide). */
const EXACT_SIZES = 1024
const SUB_BUCKETS = 64

/** A constant-memory histogram of non-negative integers: exact below 1024, ±0.8% above. */
export class SizeHistogram {
  readonly #exact = new Float64Array(EXACT_SIZES)
  readonly #log = new Map<number, number>()
  count = 0
  min = Infinity
  max = -Infinity
  sum = 0

  add (v: number): void {
    this.count++
    this.sum += v
    if (v < this.min) this.min = v
    if (v > this.max) this.max = v
    if (v < EXACT_SIZES) {
      this.#exact[v]++
      return
    }
    const e = Math.floor(Math.log2(v))
    const sub = Math.min(SUB_BUCKETS - 1, Math.floor((v / 2 ** e - 1) * SUB_BUCKETS))
    const key = e * SUB_BUCKETS + sub
    this.#log.set(key, (this.#log.get(key) ?? 0) + 1)
  }

  /** Nearest-rank percentile (`p` in 0..100): exact below 1024, a bucket's middle above. */
  percentile (p: number): number {
    if (this.count === 0) return 0
    const rank = Math.max(1, Math.ceil((p / 100) * this.count))
    if (rank >= this.count) return this.max
    if (rank === 1) return this.min
    let seen = 0
    for (let v = 0; v < EXACT_SIZES; v++) {
      seen += this.#exact[v]
      if (seen >= rank) return v
    }
    for (const key of [...this.#log.keys()].sort((a, b) => a - b)) {
      seen += this.#log.get(key) ?? 0
      if (seen >= rank) {
        const e = Math.floor(key / SUB_BUCKETS)
        const sub = key % SUB_BUCKETS
        const lo = 2 ** e * (1 + sub / SUB_BUCKETS)
        const hi = 2 ** e * (1 + (sub + 1) / SUB_BUCKETS)
        return Math.min(this.max, Math.max(this.min, Math.round((lo + hi) / 2)))
      }
    }
    return this.max
  }
}

export interface CountRow {
  key: string
  count: number
}

export interface PathRow {
  path: string
  count: number
  bodyBytes: number
}

export interface RateRow {
  /** Start of the bucket, ISO 8601. */
  start: string
  count: number
  perSecond: number
}

export interface ArchiveStats {
  files: number
  records: number
  /** Records without an arrival time (blackhole's own archives have none). */
  untimed: number
  firstTime: string | null
  lastTime: string | null
  spanSeconds: number
  /** Timed records per second over the span (0 when the span is 0). */
  averagePerSecond: number
  /** Busiest second, when buckets are still per second (span short enough); else null. */
  peakPerSecond: number | null
  rate: { bucketSeconds: number, rows: RateRow[] }
  methods: CountRow[]
  paths: {
    /** Distinct paths counted one by one (at most MAX_TRACKED_PATHS). */
    tracked: number
    /** True when more distinct paths were seen than were tracked. */
    capped: boolean
    /** Records and body bytes of paths seen after the cap was reached. */
    other: { count: number, bodyBytes: number }
    byCount: PathRow[]
    byBytes: PathRow[]
  }
  /** Response status codes of the records that have one; `notRecorded` counts the others. */
  status: { codes: CountRow[], notRecorded: number }
  /** Sizes of the bodies as received (bodyLength), in bytes. */
  bodySize: {
    min: number
    p50: number
    p90: number
    p99: number
    max: number
    mean: number
    total: number
    truncated: number
    buckets: CountRow[]
  }
}

/** The path of a request target: without query or fragment. */
export function pathOf (uri: string): string {
  const q = uri.search(/[?#]/)
  return q < 0 ? uri : uri.slice(0, q)
}

function sortedRows (m: Map<string, number>): CountRow[] {
  return [...m].map(([key, count]) => ({ key, count })).sort((a, b) => b.count - a.count || (a.key < b.key ? -1 : 1))
}

/** Accumulates records one at a time; `result()` any time. */
export class StatsCollector {
  readonly #files = new Set<string>()
  #records = 0
  #untimed = 0
  #first = 0n
  #last = 0n
  /** Bucket start (in units of #keepStep seconds since the epoch) → count. */
  #buckets = new Map<number, number>()
  #keepStep = 1
  readonly #methods = new Map<string, number>()
  readonly #paths = new Map<string, { count: number, bodyBytes: number }>()
  #otherPaths = { count: 0, bodyBytes: 0 }
  readonly #status = new Map<number, number>()
  #noStatus = 0
  readonly #sizes = new SizeHistogram()
  readonly #sizeClasses = new Array<number>(SIZE_CLASSES.length).fill(0)
  #truncated = 0

  constructor (readonly top = 10) {}

  add (r: DecodedRequest, file?: string): void {
    if (file !== undefined) this.#files.add(file)
    this.#records++
    if (r.timeNs === 0n) {
      this.#untimed++
    } else {
      if (this.#first === 0n || r.timeNs < this.#first) this.#first = r.timeNs
      if (r.timeNs > this.#last) this.#last = r.timeNs
      const key = Math.floor(Number(r.timeNs / 1_000_000_000n) / this.#keepStep)
      this.#buckets.set(key, (this.#buckets.get(key) ?? 0) + 1)
      if (this.#buckets.size > MAX_TIME_BUCKETS) this.#coarsen()
    }
    const method = this.#methods.has(r.method) || this.#methods.size < MAX_TRACKED_METHODS ? r.method : '(other)'
    this.#methods.set(method, (this.#methods.get(method) ?? 0) + 1)

    const size = r.bodyLength
    const p = pathOf(r.uri)
    const row = this.#paths.get(p)
    if (row !== undefined) {
      row.count++
      row.bodyBytes += size
    } else if (this.#paths.size < MAX_TRACKED_PATHS) {
      this.#paths.set(p, { count: 1, bodyBytes: size })
    } else {
      this.#otherPaths.count++
      this.#otherPaths.bodyBytes += size
    }

    if (r.responseStatus === 0) this.#noStatus++
    else this.#status.set(r.responseStatus, (this.#status.get(r.responseStatus) ?? 0) + 1)

    this.#sizes.add(size)
    if (r.bodyTruncated) this.#truncated++
    let c = 0
    while (size >= SIZE_CLASSES[c][1]) c++
    this.#sizeClasses[c]++
  }

  #coarsen (): void {
    const next = KEEP_STEPS.find(s => s > this.#keepStep) ?? this.#keepStep * 7
    const factor = next / this.#keepStep
    const merged = new Map<number, number>()
    for (const [k, n] of this.#buckets) {
      const key = Math.floor(k / factor)
      merged.set(key, (merged.get(key) ?? 0) + n)
    }
    this.#buckets = merged
    this.#keepStep = next
  }

  result (): ArchiveStats {
    const timed = this.#records - this.#untimed
    const spanNs = this.#last - this.#first
    const spanSeconds = timed === 0 ? 0 : Number(spanNs) / 1e9
    const rate = this.#rateTable()
    let peak: number | null = null
    if (this.#keepStep === 1) for (const n of this.#buckets.values()) peak = Math.max(peak ?? 0, n)

    const pathRows = [...this.#paths].map(([path, v]) => ({ path, count: v.count, bodyBytes: v.bodyBytes }))
    const byCount = [...pathRows].sort((a, b) => b.count - a.count || b.bodyBytes - a.bodyBytes || (a.path < b.path ? -1 : 1)).slice(0, this.top)
    const byBytes = [...pathRows].sort((a, b) => b.bodyBytes - a.bodyBytes || b.count - a.count || (a.path < b.path ? -1 : 1)).slice(0, this.top)
    const h = this.#sizes
    return {
      files: this.#files.size,
      records: this.#records,
      untimed: this.#untimed,
      firstTime: timed === 0 ? null : isoTimeNs(this.#first),
      lastTime: timed === 0 ? null : isoTimeNs(this.#last),
      spanSeconds,
      averagePerSecond: spanSeconds > 0 ? timed / spanSeconds : 0,
      peakPerSecond: peak,
      rate,
      methods: sortedRows(this.#methods),
      paths: {
        tracked: this.#paths.size,
        capped: this.#otherPaths.count > 0,
        other: { ...this.#otherPaths },
        byCount,
        byBytes
      },
      status: {
        codes: sortedRows(new Map([...this.#status].map(([k, v]) => [String(k), v]))),
        notRecorded: this.#noStatus
      },
      bodySize: {
        min: h.count === 0 ? 0 : h.min,
        p50: h.percentile(50),
        p90: h.percentile(90),
        p99: h.percentile(99),
        max: h.count === 0 ? 0 : h.max,
        mean: h.count === 0 ? 0 : h.sum / h.count,
        total: h.sum,
        truncated: this.#truncated,
        buckets: SIZE_CLASSES.map(([key], i) => ({ key, count: this.#sizeClasses[i] }))
      }
    }
  }

  #rateTable (): ArchiveStats['rate'] {
    if (this.#buckets.size === 0) return { bucketSeconds: 0, rows: [] }
    const firstS = Number(this.#first / 1_000_000_000n)
    const lastS = Number(this.#last / 1_000_000_000n)
    const step = RATE_STEPS.find(s => s >= this.#keepStep && s % this.#keepStep === 0 && Math.floor(lastS / s) - Math.floor(firstS / s) + 1 <= MAX_RATE_ROWS) ??
      Math.max(this.#keepStep, Math.ceil((lastS - firstS + 1) / MAX_RATE_ROWS / 86400) * 86400)
    const counts = new Map<number, number>()
    for (const [k, n] of this.#buckets) {
      const row = Math.floor((k * this.#keepStep) / step)
      counts.set(row, (counts.get(row) ?? 0) + n)
    }
    const rows: RateRow[] = []
    for (let row = Math.floor(firstS / step); row <= Math.floor(lastS / step); row++) {
      const count = counts.get(row) ?? 0
      rows.push({ start: new Date(row * step * 1000).toISOString().replace('.000Z', 'Z'), count, perSecond: count / step })
    }
    return { bucketSeconds: step, rows }
  }
}

/** Reads every record under `paths` once and summarises them. */
export async function archiveStats (paths: readonly string[], opts: ReadOptions & { top?: number } = {}): Promise<ArchiveStats> {
  const files = await listArchiveFiles(paths, opts.sources)
  const c = new StatsCollector(opts.top ?? 10)
  for (const file of files) {
    for await (const raw of readFileRecords(file, opts)) c.add(decodeRaw(raw), file)
  }
  const s = c.result()
  s.files = files.length
  return s
}

function bytes (n: number): string {
  if (n < 1024) return `${n} B`
  const units = ['KiB', 'MiB', 'GiB', 'TiB']
  let v = n
  let u = -1
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024
    u++
  }
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[u]}`
}

function duration (s: number): string {
  if (s < 120) return `${s.toFixed(3)} s`
  if (s < 7200) return `${(s / 60).toFixed(1)} min`
  if (s < 172800) return `${(s / 3600).toFixed(1)} h`
  return `${(s / 86400).toFixed(1)} days`
}

/** Rows as aligned columns: the first left-aligned, numbers right-aligned, a last `bar` column left-aligned. */
function table (rows: string[][], bar = false, indent = '  '): string[] {
  if (rows.length === 0) return [`${indent}(none)`]
  const widths = rows[0].map((_, i) => Math.max(...rows.map(r => r[i].length)))
  const last = rows[0].length - 1
  return rows.map(r => indent + r.map((c, i) => (i === 0 || (bar && i === last) ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd())
}

const pct = (n: number, of: number): string => of === 0 ? '-' : `${((100 * n) / of).toFixed(1)}%`

/** The human-readable summary. */
export function formatStats (s: ArchiveStats): string {
  const out: string[] = []
  out.push(`records    ${s.records} in ${s.files} file(s)`)
  if (s.firstTime === null) {
    out.push('time       none recorded')
  } else {
    out.push(`time       ${s.firstTime} .. ${s.lastTime} (${duration(s.spanSeconds)})`)
    const peak = s.peakPerSecond === null ? '' : `, busiest second ${s.peakPerSecond}`
    out.push(`rate       ${s.averagePerSecond.toFixed(2)} req/s on average${peak}`)
  }
  if (s.untimed > 0) out.push(`untimed    ${s.untimed} record(s) without an arrival time`)
  if (s.rate.rows.length > 0) {
    out.push('', `requests over time (${s.rate.bucketSeconds} s buckets)`)
    const max = Math.max(...s.rate.rows.map(r => r.count))
    out.push(...table(s.rate.rows.map(r => [r.start, String(r.count), `${r.perSecond.toFixed(2)}/s`, '#'.repeat(max === 0 ? 0 : Math.round((30 * r.count) / max))]), true))
  }
  out.push('', 'methods')
  out.push(...table(s.methods.map(m => [m.key, String(m.count), pct(m.count, s.records)])))
  out.push('', `top paths by count${s.paths.capped ? ` (first ${s.paths.tracked} distinct paths tracked; ${s.paths.other.count} later requests to other paths not ranked)` : ''}`)
  out.push(...table(s.paths.byCount.map(p => [p.path, String(p.count), pct(p.count, s.records), bytes(p.bodyBytes)])))
  out.push('', 'top paths by body bytes')
  out.push(...table(s.paths.byBytes.map(p => [p.path, bytes(p.bodyBytes), pct(p.bodyBytes, s.bodySize.total), String(p.count)])))
  out.push('', 'status codes')
  if (s.status.codes.length === 0) {
    out.push('  none recorded (a sink records no response; plugin mode does)')
  } else {
    out.push(...table([...s.status.codes.map(c => [c.key, String(c.count), pct(c.count, s.records)]), ...(s.status.notRecorded > 0 ? [['not recorded', String(s.status.notRecorded), pct(s.status.notRecorded, s.records)]] : [])]))
  }
  const b = s.bodySize
  out.push('', `body sizes  min ${bytes(b.min)}  p50 ${bytes(b.p50)}  p90 ${bytes(b.p90)}  p99 ${bytes(b.p99)}  max ${bytes(b.max)}  mean ${bytes(Math.round(b.mean))}  total ${bytes(b.total)}`)
  if (b.truncated > 0) out.push(`  ${b.truncated} body(ies) truncated when recorded (sizes are as received)`)
  out.push(...table(b.buckets.map(c => [c.key, String(c.count), pct(c.count, s.records)])))
  return out.join('\n') + '\n'
}
