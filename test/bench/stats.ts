// Shared helpers for the micro-benchmarks in test/bench: timing rounds, medians and spreads,
// number formatting, markdown tables, the machine description and the docs section update.
// Benchmarks are not tests: they are compiled with test/ but never run by `npm test`.
import { readFileSync, writeFileSync, existsSync, mkdirSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import v8 from 'node:v8'
import vm from 'node:vm'

/** Median, minimum and maximum of a set of measurements. */
export interface Summary {
  median: number
  min: number
  max: number
  n: number
}

export function median (values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('median of no values')
  const s = [...values].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2
}

export function summarize (values: readonly number[]): Summary {
  if (values.length === 0) throw new RangeError('summary of no values')
  return { median: median(values), min: Math.min(...values), max: Math.max(...values), n: values.length }
}

/** Relative spread of a summary, (max - min) / median, e.g. 0.04 for ±2 %. */
export function relativeSpread (s: Summary): number {
  return s.median === 0 ? 0 : (s.max - s.min) / s.median
}

/** Seconds since an arbitrary origin, with nanosecond resolution. */
export function seconds (): number {
  return Number(process.hrtime.bigint()) / 1e9
}

let gcFn: (() => void) | null | undefined

/**
 * A full garbage collection between rounds, so one round's garbage is not collected on the
 * next round's clock. Uses --expose-gc when given, else enables it at run time; a no-op when
 * neither works.
 */
export function collectGarbage (): void {
  if (gcFn === undefined) {
    const g = (globalThis as { gc?: () => void }).gc
    if (typeof g === 'function') {
      gcFn = g
    } else {
      try {
        v8.setFlagsFromString('--expose-gc')
        gcFn = vm.runInNewContext('gc') as () => void
      } catch {
        gcFn = null
      }
    }
  }
  gcFn?.()
}

export interface RoundOptions {
  /** Measured rounds (at least 1). */
  rounds: number
  /** Unmeasured rounds run first. Default 1. */
  warmup?: number
  /** Called before every round, warm-up included, outside the timing (e.g. to make a fresh directory). */
  before?: () => void | Promise<void>
  /** Called after every round, outside the timing (e.g. to check and clean up). */
  after?: (round: number, warm: boolean) => void | Promise<void>
}

/** Runs `fn` for the warm-up and measured rounds; returns the measured durations in seconds. */
export async function timeRounds (opts: RoundOptions, fn: () => void | Promise<void>): Promise<number[]> {
  const warmup = opts.warmup ?? 1
  const times: number[] = []
  for (let i = 0; i < warmup + opts.rounds; i++) {
    const warm = i < warmup
    await opts.before?.()
    collectGarbage()
    const t0 = seconds()
    await fn()
    const t = seconds() - t0
    if (!warm) times.push(t)
    await opts.after?.(i - warmup, warm)
  }
  return times
}

/** Per-round rates (units per second) from durations. */
export function rates (units: number, times: readonly number[]): number[] {
  return times.map(t => units / t)
}

/** Groups digits by thousands with a thin separator: 1234567 -> "1,234,567". */
export function formatInt (v: number): string {
  return Math.round(v).toLocaleString('en-US')
}

/** A number with about three significant digits, never in exponent form. */
export function format3 (v: number): string {
  if (!Number.isFinite(v)) return String(v)
  const a = Math.abs(v)
  if (a >= 100) return formatInt(v)
  if (a >= 10) return v.toFixed(1)
  if (a >= 1) return v.toFixed(2)
  return v.toFixed(3)
}

/** "median" and "min–max" cells for a summary, with one number format. */
export function summaryCells (s: Summary, fmt: (v: number) => string = format3): [string, string] {
  return [fmt(s.median), `${fmt(s.min)}–${fmt(s.max)}`]
}

export function formatBytes (n: number): string {
  if (n >= 1 << 30) return `${(n / (1 << 30)).toFixed(2)} GiB`
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(1)} MiB`
  if (n >= 1 << 10) return `${(n / (1 << 10)).toFixed(1)} KiB`
  return `${n} B`
}

/** A GitHub-flavoured markdown table. `align` holds 'l' or 'r' per column (default left). */
export function markdownTable (header: readonly string[], rows: ReadonlyArray<readonly string[]>, align?: ReadonlyArray<'l' | 'r'>): string {
  const cell = (s: string): string => s.replace(/\|/g, '\\|')
  const sep = header.map((_, i) => (align?.[i] === 'r' ? '---:' : '---'))
  const lines = [header, sep, ...rows].map((r, i) => `| ${(i === 1 ? r : r.map(cell)).join(' | ')} |`)
  return lines.join('\n') + '\n'
}

/** The CPUs this process may run on (e.g. "0" under `taskset -c 0`), from /proc when available. */
export function allowedCpus (): string | null {
  try {
    const m = /^Cpus_allowed_list:\s*(.+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))
    return m === null ? null : m[1].trim()
  } catch {
    return null
  }
}

export interface MachineInfo {
  cpuModel: string
  cores: number
  allowedCpus: string | null
  memory: string
  os: string
  node: string
  date: string
}

export function machineInfo (): MachineInfo {
  let cpuModel = os.cpus()[0]?.model ?? 'unknown'
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))
    if (m !== null) cpuModel = m[1].trim()
  } catch {
    // Not Linux: keep what os.cpus() says.
  }
  return {
    cpuModel,
    cores: os.cpus().length,
    allowedCpus: allowedCpus(),
    memory: formatBytes(os.totalmem()),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z')
  }
}

/** Markdown bullet lines describing the machine. */
export function machineLines (m: MachineInfo): string[] {
  const pinned = m.allowedCpus !== null && m.allowedCpus !== `0-${m.cores - 1}` ? ` (run pinned to CPU ${m.allowedCpus})` : ''
  return [
    `- CPU: ${m.cpuModel}, ${m.cores} logical cores${pinned}`,
    `- Memory: ${m.memory}; OS: ${m.os}`,
    `- Node.js: ${m.node}`,
    `- Date: ${m.date}`
  ]
}

/**
 * Replaces the text between `<!-- NAME:start -->` and `<!-- NAME:end -->` in a markdown file.
 * A missing file is created from `intro`; missing markers are appended at the end.
 */
export function replaceDocSection (file: string, name: string, body: string, intro: string): void {
  const start = `<!-- ${name}:start -->`
  const end = `<!-- ${name}:end -->`
  const block = `${start}\n${body.trimEnd()}\n${end}`
  let text = existsSync(file) ? readFileSync(file, 'utf8') : intro.trimEnd() + '\n'
  const i = text.indexOf(start)
  const j = text.indexOf(end)
  if (i !== -1 && j > i) {
    text = text.slice(0, i) + block + text.slice(j + end.length)
  } else {
    if (i !== -1 || j !== -1) throw new Error(`${file}: unbalanced ${name} markers`)
    text = text.trimEnd() + '\n\n' + block + '\n'
  }
  mkdirSync(path.dirname(file), { recursive: true })
  writeFileSync(file, text)
}
