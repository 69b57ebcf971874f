// Shared helpers for the micro-benchmarks in test/bench: timing rounds, medians and spreads,
// number formatting, markdown tables, the machine description and the docs section update.
// Benchmarks are not tests: they are compiled with test/ but never run by `npm test`.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process'
import { readFileSync, readdirSync, writeFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import v8 from 'node:v8'
import vm from 'node:vm'

// Where the benchmarks run from (any outDir: dist, dist-bench, ...) and the layout they share.
export const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url)) // <outDir>/test/bench
export const OUT_ROOT = path.resolve(BENCH_DIR, '../..')
export const REPO = path.resolve(OUT_ROOT, '..')
export const CLI = path.join(OUT_ROOT, 'preset/cli.js')
export const POST_LUA = path.join(REPO, 'test/bench/post.lua')
/** Servers under test run on this CPU, load generators on the other. */
export const SERVER_CPU = '0'
export const WRK_CPU = '1'
export const CONNECTIONS = 64

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
/** An integer command-line option (parseArgs string values), at least `min`, or a clear error. */
export function intOption (values: Record<string, unknown>, name: string, min: number): number {
  const v = String(values[name])
  const n = Number(v)
  if (!Number.isSafeInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}, got '${v}'`)
  return n
}

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

// ---------------------------------------------------------------------------------------------
// Load benchmarks with separate server and wrk processes (sink.ts, plugin.ts): child processes,
// /proc readings, wrk runs and archive checks. Linux only (taskset, /proc).

export const mib = (b: number): string => (b / (1 << 20)).toFixed(1)
export const pct = (f: number): string => Number.isFinite(f) ? `${Math.round(f * 100)} %` : 'n/a'
export const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

// Every child process is tracked and killed by PID when the harness exits, however it exits.
const children = new Set<ChildProcess>()
const tempDirs = new Set<string>()
let cleanupInstalled = false

/**
 * On exit (and on SIGINT, SIGTERM, SIGHUP) kills the children still running, by PID, and
 * removes the temp dirs still registered. `name` prefixes the message printed on a signal.
 */
export function installCleanup (name: string): void {
  if (cleanupInstalled) return
  cleanupInstalled = true
  process.on('exit', () => {
    for (const c of children) {
      if (c.exitCode === null && c.signalCode === null) {
        try { c.kill('SIGKILL') } catch { /* already gone */ }
      }
    }
    for (const d of tempDirs) {
      try { rmSync(d, { recursive: true, force: true }) } catch { /* best effort */ }
    }
  })
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      process.stderr.write(`\n${name}: ${sig}, stopping children\n`)
      process.exit(130) // the 'exit' handler kills the children and removes the temp dirs
    })
  }
}

/** A fresh temp dir, removed on exit unless `removeTempDir` removed it first. */
export function makeTempDir (prefix: string): string {
  const d = mkdtempSync(path.join(os.tmpdir(), prefix))
  tempDirs.add(d)
  return d
}

export function removeTempDir (d: string): void {
  rmSync(d, { recursive: true, force: true })
  tempDirs.delete(d)
}

export interface Exit { code: number | null, signal: NodeJS.Signals | null }

export interface Proc {
  child: ChildProcess
  pid: number
  /** stdout + stderr, the last 64 KiB. */
  output: () => string
  exited: Promise<Exit>
  done: () => boolean
}

export function start (cmd: string, args: string[], env?: NodeJS.ProcessEnv): Proc {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env })
  if (child.pid === undefined) throw new Error(`could not start ${cmd}`)
  children.add(child)
  let out = ''
  const keep = (b: Buffer): void => {
    out += b.toString('utf8')
    if (out.length > 65536) out = out.slice(-65536)
  }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  let finished = false
  const exited = new Promise<Exit>((resolve) => {
    child.once('error', (err) => { keep(Buffer.from(`spawn error: ${err.message}\n`)) })
    child.once('close', (code, signal) => {
      finished = true
      children.delete(child)
      resolve({ code, signal })
    })
  })
  return { child, pid: child.pid, output: () => out, exited, done: () => finished }
}

export async function waitExit (p: Proc, ms: number): Promise<Exit | null> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<null>((resolve) => { timer = setTimeout(() => resolve(null), ms) })
  try {
    return await Promise.race([p.exited, timeout])
  } finally {
    clearTimeout(timer)
  }
}

export const STOP_TIMEOUT_MS = 15_000

/** SIGTERM, then SIGKILL after `timeoutMs` (15 s). Returns the exit and how long the graceful stop took. */
export async function stop (p: Proc, timeoutMs = STOP_TIMEOUT_MS): Promise<{ exit: Exit, ms: number, killed: boolean }> {
  const t0 = Date.now()
  if (!p.done()) p.child.kill('SIGTERM')
  let exit = await waitExit(p, timeoutMs)
  let killed = false
  if (exit === null) {
    killed = true
    p.child.kill('SIGKILL')
    exit = await p.exited
  }
  return { exit, ms: Date.now() - t0, killed }
}

export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = net.createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port
      s.close(() => resolve(port))
    })
  })
}

export async function httpGet (port: number, urlPath: string, timeoutMs = 2000): Promise<{ status: number, body: string }> {
  return await new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, agent: false, timeout: timeoutMs }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => { body += c })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
      res.on('error', reject)
    })
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', reject)
  })
}

/** Polls GET `urlPath` until it answers 200 (one request reaches the server). */
export async function waitReady (p: Proc, port: number, urlPath = '/bench-ready', timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (p.done()) throw new Error(`server exited before answering:\n${p.output()}`)
    try {
      const r = await httpGet(port, urlPath)
      if (r.status === 200) return
      throw new Error(`server answered ${r.status} to GET ${urlPath}`)
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code !== 'ECONNREFUSED' && code !== 'ECONNRESET') throw err
    }
    if (Date.now() > deadline) throw new Error(`server did not answer within ${timeoutMs} ms:\n${p.output()}`)
    await sleep(50)
  }
}

// /proc readings

let clkTck = 100
try {
  clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
} catch { /* keep 100 */ }

/** VmHWM and VmRSS of a process, in bytes. */
export function memory (pid: number): { hwm: number, rss: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = (name: string): number => {
    const m = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(s)
    if (m === null) throw new Error(`/proc/${pid}/status has no ${name}`)
    return Number(m[1]) * 1024
  }
  return { hwm: kb('VmHWM'), rss: kb('VmRSS') }
}

/** User + system CPU seconds of a process (every thread). */
export function processCpu (pid: number): number {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ') // f[0] is field 3 (state)
  return (Number(f[11]) + Number(f[12])) / clkTck
}

export type CoreTimes = Map<string, { busy: number, total: number }>

/** Busy and total jiffies of each CPU, from /proc/stat. */
export function coreTimes (): CoreTimes {
  const m: CoreTimes = new Map()
  for (const line of readFileSync('/proc/stat', 'utf8').split('\n')) {
    const r = /^cpu(\d+)\s+(.*)$/.exec(line)
    if (r === null) continue
    const v = r[2].trim().split(/\s+/).map(Number)
    const total = v.slice(0, 8).reduce((a, b) => a + b, 0) // user..steal; guest is inside user
    m.set(r[1], { busy: total - v[3] - v[4], total })
  }
  return m
}

export function coreBusy (a: CoreTimes, b: CoreTimes, cpu: string): number {
  const x = a.get(cpu)
  const y = b.get(cpu)
  if (x === undefined || y === undefined || y.total === x.total) return NaN
  return (y.busy - x.busy) / (y.total - x.total)
}

const QUIET_BUSY = 0.15
const QUIET_MAX_WAIT_MS = 120_000

/**
 * Waits (at most 2 minutes) until the given CPUs are all under 15 % busy over two seconds, so a
 * measurement does not start while something else (a build, a test run) holds the cores.
 * Returns a warning when it gave up waiting.
 */
export async function waitQuiet (cpus: readonly string[], maxWaitMs = QUIET_MAX_WAIT_MS): Promise<string | null> {
  const t0 = Date.now()
  for (;;) {
    const a = coreTimes()
    await sleep(2000)
    const b = coreTimes()
    const busy = cpus.map(c => coreBusy(a, b, c))
    if (busy.every(x => x < QUIET_BUSY)) return null
    if (Date.now() - t0 >= maxWaitMs) {
      return `CPUs not quiet before the run (${cpus.map((c, i) => `CPU ${c} ${pct(busy[i])}`).join(', ')} busy after ${Math.round(maxWaitMs / 1000)} s of waiting)`
    }
  }
}

// wrk

export interface WrkResult {
  requests: number
  seconds: number
  rps: number
  p50Ms: number
  p99Ms: number
  errors: { connect: number, read: number, write: number, timeout: number }
  non2xx: number
  /** wrk's own CPU seconds (from post.lua's done()), NaN when missing. */
  cpuSeconds: number
  raw: string
}

/** `taskset` arguments for one pinned wrk run with a Lua script. */
export function wrkArgs (o: { cpu: string, connections: number, seconds: number, script: string, url: string }): string[] {
  return ['-c', o.cpu, 'wrk', '-t1', `-c${o.connections}`, `-d${o.seconds}s`, '--latency', '-s', o.script, o.url]
}

function toMs (v: string, unit: string): number {
  const n = Number(v)
  switch (unit) {
    case 'us': return n / 1000
    case 'ms': return n
    case 's': return n * 1000
    case 'm': return n * 60_000
    case 'h': return n * 3_600_000
    default: throw new Error(`unknown wrk time unit '${unit}'`)
  }
}

export function parseWrk (out: string): WrkResult {
  const reqs = /(\d+) requests in ([\d.]+)(us|ms|s|m|h),/.exec(out)
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out)
  const p50 = /^\s+50%\s+([\d.]+)(us|ms|s|m|h)\s*$/m.exec(out)
  const p99 = /^\s+99%\s+([\d.]+)(us|ms|s|m|h)\s*$/m.exec(out)
  // A script error does not stop wrk: it falls back to plain GETs, which would measure the wrong thing.
  if (/\.lua:\d+:/.test(out)) throw new Error(`wrk script error:\n${out}`)
  if (reqs === null || rps === null || p50 === null || p99 === null) throw new Error(`cannot parse wrk output:\n${out}`)
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out)
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out)
  const cpu = /wrk-cpu: utime=(\d+) stime=(\d+)/.exec(out)
  return {
    requests: Number(reqs[1]),
    seconds: toMs(reqs[2], reqs[3]) / 1000,
    rps: Number(rps[1]),
    p50Ms: toMs(p50[1], p50[2]),
    p99Ms: toMs(p99[1], p99[2]),
    errors: sock === null
      ? { connect: 0, read: 0, write: 0, timeout: 0 }
      : { connect: Number(sock[1]), read: Number(sock[2]), write: Number(sock[3]), timeout: Number(sock[4]) },
    non2xx: non2xx === null ? 0 : Number(non2xx[1]),
    cpuSeconds: cpu === null ? NaN : (Number(cpu[1]) + Number(cpu[2])) / clkTck,
    raw: out
  }
}

/**
 * Runs `taskset ARGS` (see wrkArgs); `whileRunning` may poll and call `interrupt()` to stop it
 * early (SIGINT: wrk reports). Throws on a wrk failure or on any non-2xx answer.
 */
export async function runWrk (tasksetArgs: string[], whileRunning?: (interrupt: () => void, finished: () => boolean) => Promise<void>): Promise<WrkResult> {
  const p = start('taskset', tasksetArgs)
  try {
    let stopped = false
    const interrupt = (): void => {
      if (!stopped && !p.done()) p.child.kill('SIGINT')
      stopped = true
    }
    const watcher = whileRunning === undefined ? Promise.resolve() : whileRunning(interrupt, p.done)
    const exit = await p.exited
    await watcher
    if (exit.code !== 0) throw new Error(`wrk exited with ${exit.signal ?? exit.code}:\n${p.output()}`)
    const w = parseWrk(p.output())
    if (w.non2xx > 0) throw new Error(`${w.non2xx} of ${w.requests} responses were not 2xx: the server rejected the requests`)
    return w
  } finally {
    if (!p.done()) await stop(p)
  }
}

export function wrkProblems (w: WrkResult): string[] {
  const e = w.errors
  const out: string[] = []
  if (e.connect + e.read + e.write + e.timeout > 0) out.push(`socket errors: connect ${e.connect}, read ${e.read}, write ${e.write}, timeout ${e.timeout}`)
  if (w.non2xx > 0) out.push(`${w.non2xx} non-2xx responses`)
  return out
}

/** `node CLI verify DIR`: the records and files it reports (one `records=` per file). */
export async function verifyArchive (cli: string, dir: string): Promise<{ records: number, files: number, ok: boolean, seconds: number, output: string }> {
  const t0 = performance.now()
  const p = start(process.execPath, [cli, 'verify', dir])
  const exit = await waitExit(p, 120_000) ?? (await stop(p)).exit
  const seconds = (performance.now() - t0) / 1000
  const out = p.output()
  let records = 0
  let files = 0
  for (const m of out.matchAll(/ records=(\d+)/g)) {
    records += Number(m[1])
    files++
  }
  return { records, files, ok: exit.code === 0, seconds, output: out }
}

/** The commit measured, and whether the sources under `dirs` differ from it. */
export function codeVersion (repo: string, dirs: readonly string[] = ['lib', 'plugin', 'preset', 'schema']): string {
  try {
    const head = execFileSync('git', ['-C', repo, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim()
    const dirty = execFileSync('git', ['-C', repo, 'status', '--porcelain', '--', ...dirs], { encoding: 'utf8' }).trim()
    return dirty === '' ? `commit ${head}` : `commit ${head} plus uncommitted changes in ${dirs.slice(0, -1).map(d => `${d}/`).join(', ')} or ${dirs[dirs.length - 1]}/`
  } catch {
    return 'unknown (not a git checkout)'
  }
}

/** The flags of a wrk benchmark run (sink.ts, plugin.ts). */
export interface WrkBenchArgs { rounds: number, duration: number, warmup: number, maxAttempts: number }

/** The command that reproduces a wrk benchmark run from the normal build (output in dist/). */
export function wrkBenchCommand (script: string, a: WrkBenchArgs): string {
  let s = `node dist/test/bench/${script}`
  if (a.rounds !== 5) s += ` --rounds ${a.rounds}`
  if (a.duration !== 10) s += ` --duration ${a.duration}`
  if (a.warmup !== 3) s += ` --warmup ${a.warmup}`
  if (a.maxAttempts !== 3) s += ` --max-attempts ${a.maxAttempts}`
  return s + ' --write-docs'
}

/** Fails early, with the reason, when the build or the tools a wrk benchmark needs are missing. */
export function wrkBenchPreflight (files: readonly string[]): void {
  const missing = files.filter(f => !existsSync(f))
  if (missing.length > 0) throw new Error(`missing ${missing.join(', ')}: build first (npm run build)`)
  if (os.cpus().length < 2) throw new Error('needs at least 2 CPUs (server on CPU 0, wrk on CPU 1)')
  for (const bin of ['taskset', 'wrk']) {
    try {
      execFileSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' })
    } catch {
      throw new Error(`${bin} not found on PATH`)
    }
  }
}

export interface WrkBenchCli extends WrkBenchArgs {
  writeDocs: boolean
  /** The benchmark's own integer flags, by name. */
  extra: Record<string, number>
}

/**
 * The command line of a wrk benchmark: --rounds, --duration, --warmup, --max-attempts,
 * --write-docs, plus `extra` integer flags (name → default). Prints usage for --help.
 */
export function parseWrkBenchCli (argv: string[], script: string, opts: { minRounds?: number, extra?: Record<string, string> } = {}): WrkBenchCli {
  const extra = opts.extra ?? {}
  const options: Record<string, { type: 'string' | 'boolean', default?: string | boolean, short?: string }> = {
    rounds: { type: 'string', default: '5' },
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '3' },
    'max-attempts': { type: 'string', default: '3' },
    'write-docs': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false }
  }
  for (const [name, dflt] of Object.entries(extra)) options[name] = { type: 'string', default: dflt }
  const { values } = parseArgs({ args: argv, options, strict: true })
  if (values.help === true) {
    const more = Object.keys(extra).map(n => ` [--${n} N]`).join('')
    process.stdout.write(`Usage: node dist/test/bench/${script} [--rounds R] [--duration S] [--warmup S]${more} [--max-attempts N] [--write-docs]\n`)
    process.exit(0)
  }
  const int = (name: string, min: number): number => intOption(values, name, min)
  return {
    rounds: int('rounds', opts.minRounds ?? 1),
    duration: int('duration', 1),
    warmup: int('warmup', 0),
    maxAttempts: int('max-attempts', 1),
    writeDocs: values['write-docs'] === true,
    extra: Object.fromEntries(Object.keys(extra).map(n => [n, int(n, 0)]))
  }
}

/** Options of the benchmarks that start the sink CLI themselves (cpu.ts, read.ts). */
export const SINK_CLI_OPTIONS = {
  'quiet-wait': { type: 'string', default: '120' },
  cli: { type: 'string', default: CLI },
  'write-docs': { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false }
} as const

/** Reads SINK_CLI_OPTIONS' values; prints `usage` and exits for --help. */
export function sinkCliValues (values: Record<string, unknown>, usage: string): { quietWait: number, cli: string, writeDocs: boolean } {
  if (values.help === true) {
    process.stdout.write(usage + '\n')
    process.exit(0)
  }
  return { quietWait: intOption(values, 'quiet-wait', 0), cli: path.resolve(String(values.cli)), writeDocs: values['write-docs'] === true }
}

// ---------------------------------------------------------------------------------------------
// Per-thread CPU times (cpu.ts), the wrk bodies for other load generators, docs parts.

/** Clock ticks per second of the /proc CPU times (`getconf CLK_TCK`, usually 100: 10 ms steps). */
export function clockTicks (): number {
  return clkTck
}

/** utime + stime, in clock ticks, of a /proc/.../stat line. */
function statTicks (stat: string): number {
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ') // f[0] is field 3 (state)
  return Number(f[11]) + Number(f[12])
}

/** User + system CPU of a process in clock ticks, every thread including the ones that exited. */
export function processTicks (pid: number): number {
  return statTicks(readFileSync(`/proc/${pid}/stat`, 'utf8'))
}

export interface ThreadTime {
  tid: number
  comm: string
  /** utime + stime, clock ticks. */
  ticks: number
  /** Time on a CPU in nanoseconds (/proc/PID/task/TID/schedstat, first field), NaN when missing. */
  ns: number
}

/** Where a thread sleeps (/proc/PID/task/TID/wchan, e.g. `do_epoll_wait`, `futex_do_wait`), '' when running or gone. */
export function threadWchan (pid: number, tid: number): string {
  try {
    return readFileSync(`/proc/${pid}/task/${tid}/wchan`, 'utf8').trim().replace(/^0$/, '')
  } catch {
    return ''
  }
}

/**
 * CPU time (utime + stime, clock ticks, and nanoseconds from schedstat) and name of every live
 * thread of a process, from /proc/PID/task/TID/stat, .../schedstat and .../comm. Threads that exit between the listing and the read are skipped.
 */
export function threadTimes (pid: number): Map<number, ThreadTime> {
  const m = new Map<number, ThreadTime>()
  for (const name of readdirSync(`/proc/${pid}/task`)) {
    const tid = Number(name)
    try {
      const stat = readFileSync(`/proc/${pid}/task/${name}/stat`, 'utf8')
      let comm: string
      try {
        comm = readFileSync(`/proc/${pid}/task/${name}/comm`, 'utf8').replace(/\n$/, '')
      } catch {
        comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))
      }
      let ns = NaN
      try {
        ns = Number(readFileSync(`/proc/${pid}/task/${name}/schedstat`, 'utf8').split(' ')[0])
      } catch {
        // No schedstat (kernel without CONFIG_SCHED_INFO): ticks only.
      }
      m.set(tid, { tid, comm, ticks: statTicks(stat), ns })
    } catch {
      // The thread exited meanwhile: its time is in the process total only.
    }
  }
  return m
}

/**
 * The 100 request bodies of test/bench/post.lua (the sink benchmark's wrk script), byte for byte:
 * order-like JSON documents of `size` bytes from the same Park-Miller generator and seed, so a
 * load generator other than wrk can send the same traffic (e.g. autocannon with a HAR file).
 */
export function postLuaBodies (count = 100, size = 2048): string[] {
  let seed = 20240611
  const rnd = (): number => {
    seed = (seed * 16807) % 2147483647
    return seed / 2147483647
  }
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rnd() * list.length)]
  const int = (lo: number, hi: number): number => lo + Math.floor(rnd() * (hi - lo + 1))
  const hex = (n: number): string => {
    let s = ''
    for (let i = 0; i < n; i++) s += Math.floor(rnd() * 16).toString(16)
    return s
  }
  const pad = (v: number, w: number): string => String(v).padStart(w, '0')
  const FIRST = ['Anna', 'Ben', 'Chloe', 'David', 'Elena', 'Farid', 'Grace', 'Hiro', 'Ines', 'Jonas', 'Kemal', 'Lena', 'Marco', 'Nadia', 'Oskar', 'Priya']
  const LAST = ['Andersson', 'Becker', 'Costa', 'Dubois', 'Evans', 'Fischer', 'Garcia', 'Horvat', 'Ivanova', 'Jensen', 'Kowalski', 'Lambert', 'Moreau', 'Novak']
  const PRODUCTS = ['Merino Wool Sweater', 'Trail Running Shoe', 'Waterproof Shell Jacket', 'Organic Cotton T-Shirt', 'Insulated Water Bottle', 'Leather Card Holder', 'Wireless Earbuds', 'Mechanical Keyboard', 'Canvas Backpack 24L', 'USB-C Charging Hub']
  const COLORS = ['BLK', 'WHT', 'NVY', 'GRN', 'RED', 'GRY']
  const SIZES = ['XS', 'S', 'M', 'L', 'XL', 'OS']
  const CITIES = [['Berlin', 'DE', '10115'], ['Lyon', 'FR', '69002'], ['Milano', 'IT', '20121'], ['Austin', 'US', '78701'], ['Leeds', 'GB', 'LS1 4AP'], ['Porto', 'PT', '4050-262']]
  const STREETS = ['Hauptstrasse', 'Rue de la Republique', 'Via Torino', 'Congress Ave', 'Briggate', 'Rua das Flores']
  const WORDS = ['please', 'leave', 'parcel', 'with', 'neighbour', 'gift', 'wrap', 'no', 'invoice', 'in', 'box', 'deliver', 'after', '6pm', 'call', 'on', 'arrival', 'fragile', 'thanks', 'door', 'code']
  const CHANNELS = ['web', 'ios', 'android', 'pos']
  const makeBody = (): string => {
    // Every draw in the order Lua evaluates post.lua's string.format arguments (left to right).
    const first = pick(FIRST)
    const last = pick(LAST)
    const city = pick(CITIES)
    const orderId = pad(int(0, 999999999), 9)
    const channel = pick(CHANNELS)
    const date = `2024-${pad(int(1, 12), 2)}-${pad(int(1, 28), 2)}T${pad(int(0, 23), 2)}:${pad(int(0, 59), 2)}:${pad(int(0, 59), 2)}.000Z`
    const customerId = int(100000, 999999)
    const emailNo = int(0, 99)
    const optIn = rnd() < 0.4 ? 'true' : 'false'
    const method = pick(['standard', 'express', 'pickup'])
    const street = pick(STREETS)
    const houseNo = int(1, 180)
    const trace = hex(32)
    const head = `{"orderId":"ord-${orderId}","channel":"${channel}","createdAt":"${date}",` +
      `"customer":{"id":${customerId},"name":"${first} ${last}","email":"${first.toLowerCase()}.${last.toLowerCase()}${emailNo}@example.com","marketingOptIn":${optIn}},` +
      `"shipping":{"method":"${method}","address":{"line1":"${street} ${houseNo}","city":"${city[0]}","postalCode":"${city[2]}","country":"${city[1]}"}},` +
      `"trace":"${trace}","items":[`
    const items: string[] = []
    let len = head.length
    for (;;) {
      const sku = `SKU-${int(10000, 99999)}-${pick(COLORS)}-${pick(SIZES)}`
      const productId = int(1000, 9999)
      const product = pick(PRODUCTS)
      const quantity = int(1, 4)
      const price = `${int(5, 299)}.${pad(int(0, 99), 2)}`
      const inStock = rnd() < 0.9 ? 'true' : 'false'
      const item = `{"sku":"${sku}","productId":${productId},"name":"${product}","quantity":${quantity},"unitPrice":${price},"inStock":${inStock}}`
      if (len + item.length + 1 + 40 > size) break
      items.push(item)
      len += item.length + 1
    }
    let doc = head + items.join(',') + '],"notes":"'
    const tail = '"}'
    const room = size - doc.length - tail.length
    let notes = pick(WORDS)
    while (notes.length < room) notes += ' ' + pick(WORDS)
    doc += notes.slice(0, room) + tail
    if (doc.length !== size) throw new Error(`body is ${doc.length} bytes, wanted ${size}`)
    return doc
  }
  const bodies: string[] = []
  for (let i = 0; i < count; i++) bodies.push(makeBody())
  return bodies
}

/**
 * Writes a HAR file for `autocannon --har FILE URL`: one POST to `url` per body, with the headers
 * post.lua sends (Content-Type and Accept application/json, a User-Agent). autocannon sends the
 * entries in turn on every connection.
 */
export function writeBodiesHar (file: string, url: string, bodies: readonly string[], userAgent: string): void {
  const headers = [
    { name: 'Content-Type', value: 'application/json' },
    { name: 'Accept', value: 'application/json' },
    { name: 'User-Agent', value: userAgent }
  ]
  const entries = bodies.map(text => ({ request: { method: 'POST', url, headers, postData: { mimeType: 'application/json', text } } }))
  writeFileSync(file, JSON.stringify({ log: { version: '1.2', creator: { name: 'fastify-blackhole bench', version: '1' }, entries } }))
}

/** One line of `uptime` (load averages), or the load averages alone. */
export function uptimeLine (): string {
  try {
    return execFileSync('uptime', { encoding: 'utf8' }).trim().replace(/\s+/g, ' ')
  } catch {
    return `load average ${os.loadavg().map(x => x.toFixed(2)).join(', ')}`
  }
}

/**
 * Replaces the part `<!-- part:start -->`...`<!-- part:end -->` inside the section `section` of a
 * markdown file, keeping the section's other parts: `head` is the text before the parts, `parts`
 * their names in order. Parts that this run did not measure keep their text (or a placeholder).
 */
export function replaceDocPart (file: string, section: string, head: string, parts: readonly string[], part: string, body: string, intro = '# Benchmarks\n'): void {
  const current = existsSync(file) ? readFileSync(file, 'utf8') : ''
  const find = (text: string, name: string): string | null => {
    const s = `<!-- ${name}:start -->`
    const e = `<!-- ${name}:end -->`
    const i = text.indexOf(s)
    const j = text.indexOf(e)
    return i !== -1 && j > i ? text.slice(i, j + e.length) : null
  }
  const blockOf = (name: string, text: string): string => `<!-- ${name}:start -->\n${text.trimEnd()}\n<!-- ${name}:end -->`
  const sectionText = find(current, section) ?? ''
  const blocks = parts.map(p => p === part ? blockOf(p, body) : find(sectionText, p) ?? blockOf(p, '_Not measured yet._'))
  replaceDocSection(file, section, [head.trimEnd(), ...blocks].join('\n\n'), intro)
}

export interface ArchiveTotals { records: number, files: number, fileBytes: number, streamBytes: number, ok: boolean, problems: string[] }

/**
 * `node CLI verify --json DIR...`: records, files, bytes on disk and decompressed record-stream
 * bytes, summed over the files; `ok` only when verify exits 0 and every file is whole.
 */
export async function verifyArchiveJson (cli: string, dir: string, timeoutMs = 600_000): Promise<ArchiveTotals> {
  const p = start(process.execPath, [cli, 'verify', '--json', dir])
  const exit = await waitExit(p, timeoutMs) ?? (await stop(p)).exit
  const t: ArchiveTotals = { records: 0, files: 0, fileBytes: 0, streamBytes: 0, ok: exit.code === 0, problems: [] }
  for (const line of p.output().split('\n')) {
    if (!line.startsWith('{')) {
      if (line.trim() !== '') t.problems.push(line.trim())
      continue
    }
    const r = JSON.parse(line) as { ok: boolean, records: number, fileBytes: number, streamBytes: number, problems: string[] }
    t.files++
    t.records += r.records
    t.fileBytes += r.fileBytes
    t.streamBytes += r.streamBytes
    if (!r.ok) t.ok = false
    t.problems.push(...r.problems)
  }
  if (t.files === 0) t.ok = false
  return t
}
