// The A/B/C wrk benchmarks (sink.ts, plugin.ts): three servers in turn on the server CPU, wrk on
// the client CPU. Their command line and preflight, one measured run of a server, the rounds (a
// run measured again when other processes disturbed it), and the figures the runs give.
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import os from 'node:os'
import { parseArgs } from 'node:util'
import { markdownTable, metCell, pct, perRoundCell } from './format.js'
import { CLIENT_CPU, SERVER_CPU } from './layout.js'
import { intOption } from './options.js'
import { start, stop, stopProblems, type Proc, type Stopped } from './processes.js'
import { coreBusy, coreTimes, memory, processCpu, waitQuiet } from './procfs.js'
import { freePort, serverLines, waitReady } from './server.js'
import type { Ratio } from './statistics.js'
import { runWrk, wrkCommandText, wrkCpuShare, wrkProblems, type WrkResult } from './wrk.js'

/** The three servers of a wrk benchmark, measured in turn. */
export type Kind = 'A' | 'B' | 'C'
export const KINDS: readonly Kind[] = ['A', 'B', 'C']

/** The flags of a wrk benchmark run. */
interface WrkBenchArgs { rounds: number, duration: number, warmup: number, maxAttempts: number }

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

/** The command that reproduces a wrk benchmark run from the normal build (output in dist/). */
function wrkBenchCommand (script: string, a: WrkBenchArgs): string {
  let s = `node dist/test/bench/${script}`
  if (a.rounds !== 5) s += ` --rounds ${a.rounds}`
  if (a.duration !== 10) s += ` --duration ${a.duration}`
  if (a.warmup !== 3) s += ` --warmup ${a.warmup}`
  if (a.maxAttempts !== 3) s += ` --max-attempts ${a.maxAttempts}`
  return s + ' --write-docs'
}

/** The docs lines that give the commands of a run: the benchmark's, and wrk's against `urlPath`. */
export function wrkBenchCommandLines (script: string, a: WrkBenchArgs, urlPath: string): string[] {
  return [
    'Commands:',
    '',
    '```sh',
    'npm run build',
    wrkBenchCommand(script, a),
    '```',
    '',
    'wrk, for each server (warm-up with the same command and `-d' + String(a.warmup) + 's`):',
    '',
    '```sh',
    wrkCommandText(a.duration, urlPath),
    '```'
  ]
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

/** CPU use over a measured run. */
export interface CpuUse {
  seconds: number
  /** Server CPU seconds over the run / wall seconds (1.0 = one core busy). */
  serverCpu: number
  /** Busy fraction of the server's core and wrk's core over the run (every process). */
  core0: number
  core1: number
}

/** Starts measuring the CPU use of server `pid` and of both cores; the function returned ends the run. */
function cpuWindow (pid: number): () => CpuUse {
  const c0 = coreTimes()
  const s0 = processCpu(pid)
  const t0 = performance.now()
  return () => {
    const seconds = (performance.now() - t0) / 1000
    const serverCpu = (processCpu(pid) - s0) / seconds
    const c1 = coreTimes()
    return { seconds, serverCpu, core0: coreBusy(c0, c1, SERVER_CPU), core1: coreBusy(c0, c1, CLIENT_CPU) }
  }
}

/** A server under test and how one run of it is measured. */
export interface ServerUnderTest<S> {
  /** Its command and arguments on `port`. */
  command: (port: number) => [string, string[]]
  /** The route wrk loads. */
  urlPath: string
  /** Matches the lines it prints when it starts; anything else it prints is worth a look. */
  banner: RegExp
  /** Any exit after SIGTERM is fine (a server without a SIGTERM handler dies of the signal). */
  anyExit?: boolean
  /** The measured wrk run, after the readiness probe and the warm-up; the CPU use is measured around it. */
  load: (run: { server: Proc, port: number, warm: WrkResult | null }) => Promise<WrkResult>
  /** Reads the server right after the measured run (e.g. its stats), before its peak RSS. */
  inspect: (run: { server: Proc, port: number, main: WrkResult, seconds: number }) => Promise<S>
}

/** One run of a server under test. */
export interface ServerRun<S> extends CpuUse {
  warm: WrkResult | null
  main: WrkResult
  inspected: S
  /** Peak RSS (VmHWM) in bytes, read before SIGTERM. */
  peakRss: number
  stopped: Stopped
  /** wrk's problems, the server's own lines, busy cores before the run, a bad stop. */
  warnings: string[]
}

/**
 * Measures one run of a server: waits for quiet cores, starts it on a free port, waits until it
 * answers, a warm-up wrk run of `warmup` s (none for 0), the measured run, then SIGTERM.
 */
export async function measureServer<S> (sut: ServerUnderTest<S>, warmup: number): Promise<ServerRun<S>> {
  const noisy = await waitQuiet([SERVER_CPU, CLIENT_CPU])
  const port = await freePort()
  const server = start(...sut.command(port))
  let warm: WrkResult | null = null
  let main: WrkResult
  let use: CpuUse
  let inspected: S
  let peakRss: number
  let stopped: Stopped
  try {
    await waitReady(server, port)
    if (warmup > 0) warm = await runWrk(port, sut.urlPath, warmup)
    const endRun = cpuWindow(server.pid)
    main = await sut.load({ server, port, warm })
    use = endRun()
    inspected = await sut.inspect({ server, port, main, seconds: use.seconds })
    peakRss = memory(server.pid).hwm
  } finally {
    stopped = await stop(server)
  }
  const warnings = [...wrkProblems(main), ...serverLines(server.output(), sut.banner)]
  if (noisy !== null) warnings.push(noisy)
  warnings.push(...stopProblems(stopped, sut.anyExit))
  return { ...use, warm, main, inspected, peakRss, stopped, warnings }
}

/** What every measured run of a server holds. */
export interface WrkRun {
  round: number
  main: WrkResult
  serverCpu: number
  core0: number
  core1: number
  warnings: string[]
}

/** A run during which other processes took more than this of CPU 0 or 1 is measured again. */
export const DISTURBED = 0.10

/** Busy time of CPUs 0 and 1 not spent by the server or wrk (the larger of the two), 0 to 1. */
function disturbance (m: WrkRun): number {
  return Math.max(m.core0 - m.serverCpu, m.core1 - wrkCpuShare(m.main))
}

/**
 * Runs `measure` again while other processes disturbed the run, up to `maxAttempts` runs in all
 * (shared machines); the run kept says in its warnings whether it was measured again or is still
 * disturbed. `label` names the run in the progress lines.
 */
async function measureUndisturbed<M extends WrkRun> (label: string, maxAttempts: number, measure: () => Promise<M>): Promise<M> {
  let m = await measure()
  let attempts = 1
  for (; attempts < maxAttempts && disturbance(m) > DISTURBED; attempts++) {
    process.stderr.write(`${label}: other load on the cores (${pct(disturbance(m))}), measuring again\n`)
    m = await measure()
  }
  if (disturbance(m) > DISTURBED) m.warnings.unshift(`**disturbed**: other processes took ${pct(disturbance(m))} of a core during the run kept (attempt ${attempts} of ${maxAttempts})`)
  else if (attempts > 1) m.warnings.unshift(`measured ${attempts} times: the earlier attempts were disturbed by other processes`)
  return m
}

/**
 * Measures every server once a round, in an order rotated by one each round (A B C, B C A, ...),
 * a disturbed run again (see measureUndisturbed); `progress` describes each run kept on stderr.
 */
export async function measureRounds<M extends WrkRun> (args: WrkBenchArgs, measure: (kind: Kind, round: number) => Promise<M>, progress: (m: M) => string): Promise<M[]> {
  const ms: M[] = []
  for (let r = 0; r < args.rounds; r++) {
    const order = KINDS.map((_, i) => KINDS[(i + r) % KINDS.length])
    for (const k of order) {
      const m = await measureUndisturbed(`round ${r + 1} ${k}`, args.maxAttempts, async () => await measure(k, r))
      ms.push(m)
      process.stderr.write(`round ${r + 1} ${k}: ${progress(m)}\n`)
      for (const w of m.warnings) process.stderr.write(`  warning: ${w}\n`)
    }
  }
  return ms
}

/**
 * The runs of one server that its figures use: disturbed runs (kept only when every attempt was
 * disturbed) stay out, as long as the server has at least one clean run.
 */
export function usedRuns<M extends WrkRun> (runs: M[]): M[] {
  const clean = (m: M): boolean => disturbance(m) <= DISTURBED
  return runs.some(clean) ? runs.filter(clean) : runs
}

/** The most CPU 0 was busy beyond the server's own CPU time, and CPU 1 beyond wrk's, over `runs`. */
export function otherLoad (runs: readonly WrkRun[]): [number, number] {
  return [Math.max(...runs.map(m => m.core0 - m.serverCpu)), Math.max(...runs.map(m => m.core1 - wrkCpuShare(m.main)))]
}

/** The ratios of the medians with their spread within rounds, and their goals. */
export function ratioTable (ratios: readonly Ratio[]): string {
  return markdownTable(['Ratio', 'of the medians', 'per round min–max', 'goal', 'met'],
    ratios.map(r => [r.name, r.value.toFixed(3), perRoundCell(r.perRound), r.goal, metCell(r.met)]),
    ['l', 'r', 'r', 'l', 'l'])
}
