// Throughput benchmark of the preset sink against a bare Fastify catch-all, with wrk.
//
//   A  bare Fastify 5 catch-all (test/bench/bare-fastify.ts), logger off
//   B  `blackhole serve --no-record`
//   C  `blackhole serve --out DIR`, recording every request with the default codec
//
// Each round starts each server fresh on a free 127.0.0.1 port, pinned to CPU 0 (taskset -c 0),
// in rotated order (round 1: A B C, round 2: B C A, ...). Per server: wait until it answers, a
// discarded warm-up, then `taskset -c 1 wrk -t1 -c64 -dNs --latency -s test/bench/post.lua` (2 KB
// JSON POST bodies rotating among 100), then the peak RSS (VmHWM) is read and the server gets
// SIGTERM. For C the archive is verified afterwards (`blackhole verify`): it must hold at least as
// many records as requests were answered.
//
// Usage (after `npm run build`):
//   node dist/test/bench/sink.js [--rounds 5] [--duration 10] [--warmup 3]
//                                [--rss-requests N] [--max-attempts 3] [--write-docs]
//   --max-attempts   a run during which other processes took more than 10 % of CPU 0 or CPU 1
//                    is measured again, up to this many times in all (shared machines)
//   --rss-requests N  after the rounds, one long recording run (C) until N requests: peak RSS and
//                    RSS every 10 s; with --rounds 0 only that run
//   --write-docs     rewrite the sink-bench section of docs/benchmarks.md: the part this run
//                    measured (rounds, long run or both); SINK_BENCH_DOCS=FILE writes elsewhere
//
// Linux only (taskset, /proc), at least 2 CPUs, wrk on PATH.
import { existsSync, readFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { readCodec } from '../../lib/format/codecs.js'
import {
  codeVersion as codeVersion0, coreBusy, coreTimes, format3, formatBytes, formatInt, freePort, httpGet,
  installCleanup, machineInfo, machineLines, makeTempDir, markdownTable, median, memory, mib, pct,
  processCpu, removeTempDir, replaceDocSection, runWrk as runWrk0, sleep, start, stop, STOP_TIMEOUT_MS,
  summarize, summaryCells, verifyArchive as verifyArchive0, waitQuiet as waitQuiet0, waitReady as waitReady0,
  wrkArgs, wrkBenchCommand, wrkBenchPreflight, parseWrkBenchCli, type WrkBenchCli, wrkProblems, type Exit, type Proc, type Summary, type WrkResult,
  BENCH_DIR as HERE, REPO, CLI, POST_LUA, SERVER_CPU, WRK_CPU, CONNECTIONS
} from './stats.js'

const BARE = path.join(HERE, 'bare-fastify.js')
/** SINK_BENCH_DOCS redirects --write-docs to another file (to try the harness without touching the docs). */
const DOCS = process.env.SINK_BENCH_DOCS ?? path.join(REPO, 'docs/benchmarks.md')

const BODY_BYTES = 2048 // post.lua's bodies
const URL_PATH = '/ingest'
const READY_TIMEOUT_MS = 30_000
const RSS_MAX_SECONDS = 600
const RSS_SAMPLE_MS = 10_000

type Kind = 'A' | 'B' | 'C'
const KINDS: readonly Kind[] = ['A', 'B', 'C']
// The codec 'auto' picks on this machine (what the servers under test use).
const CODEC = readCodec().name
const LABEL: Record<Kind, string> = {
  A: 'A bare Fastify catch-all',
  B: 'B preset `--no-record`',
  C: `C preset recording (default codec: ${CODEC})`
}

// ---------------------------------------------------------------------------------------------
// Command line

interface Args extends WrkBenchCli {
  rssRequests: number
}

function parseCli (argv: string[]): Args {
  const c = parseWrkBenchCli(argv, 'sink.js', { minRounds: 0, extra: { 'rss-requests': '0' } })
  const a: Args = { ...c, rssRequests: c.extra['rss-requests'] }
  if (a.rounds === 0 && a.rssRequests === 0) throw new Error('nothing to do: --rounds 0 without --rss-requests')
  return a
}

// ---------------------------------------------------------------------------------------------
// Processes, /proc readings and wrk: the shared helpers of stats.ts, with this benchmark's settings.

installCleanup('sink bench')

const waitReady = async (p: Proc, port: number): Promise<void> => { await waitReady0(p, port, '/bench-ready', READY_TIMEOUT_MS) }
const waitQuiet = async (): Promise<string | null> => await waitQuiet0([SERVER_CPU, WRK_CPU])
const runWrk = async (port: number, seconds: number, whileRunning?: (interrupt: () => void, finished: () => boolean) => Promise<void>): Promise<WrkResult> =>
  await runWrk0(wrkArgs({ cpu: WRK_CPU, connections: CONNECTIONS, seconds, script: POST_LUA, url: `http://127.0.0.1:${port}${URL_PATH}` }), whileRunning)
const verifyArchive = async (dir: string): ReturnType<typeof verifyArchive0> => await verifyArchive0(CLI, dir)
const codeVersion = (): string => codeVersion0(REPO)

// ---------------------------------------------------------------------------------------------
// One server, measured once

interface Measurement {
  kind: Kind
  round: number
  warm: WrkResult | null
  main: WrkResult
  /** Peak RSS (VmHWM) in bytes, read before SIGTERM. */
  peakRss: number
  /** Server CPU seconds over the measured run / wall seconds (1.0 = one core busy). */
  serverCpu: number
  /** Busy fraction of the server's core and wrk's core over the measured run (every process). */
  core0: number
  core1: number
  stopMs: number
  exit: Exit
  warnings: string[]
  /** C only. */
  recording?: RecordingCheck
}

interface RecordingCheck {
  /** Requests answered: the readiness probe, the warm-up and the measured run. */
  answered: number
  records: number
  files: number
  verifyOk: boolean
  verifySeconds: number
  dropped: number | null
  archiveBytes: number | null
  ratio: number | null
}

function serverCommand (kind: Kind, port: number, dir: string | null): [string, string[]] {
  const node = process.execPath
  if (kind === 'A') return ['taskset', ['-c', SERVER_CPU, node, BARE, String(port)]]
  const args = ['-c', SERVER_CPU, node, CLI, 'serve', '--host', '127.0.0.1', '--port', String(port),
    '--log-level', 'warn', '--stats-interval', '0']
  if (kind === 'B') args.push('--no-record')
  else args.push('--out', dir as string)
  return ['taskset', args]
}

interface ArchiveStats { recordsWritten: number, recordsDropped: number, bytesIn: number, bytesOut: number, writeErrors: number }
interface SinkStatsJson { sink?: { requests?: number, bodyBytes?: number }, archive?: ArchiveStats }

async function sinkStats (port: number): Promise<SinkStatsJson | null> {
  try {
    const r = await httpGet(port, '/_blackhole/stats')
    return r.status === 200 ? JSON.parse(r.body) as SinkStatsJson : null
  } catch {
    return null
  }
}

function serverWarnings (output: string): string[] {
  // The banner lines start with "blackhole:" / "bare-fastify:"; anything else is worth a look.
  return output.split('\n').filter(l => l.trim() !== '' && !/^(blackhole|bare-fastify): /.test(l)).slice(0, 5)
}

/** Busy time of CPUs 0 and 1 not spent by the server or wrk (the larger of the two), 0 to 1. */
function disturbance (m: Measurement): number {
  const wrkCpu = Number.isFinite(m.main.cpuSeconds) ? m.main.cpuSeconds / m.main.seconds : 0
  return Math.max(m.core0 - m.serverCpu, m.core1 - wrkCpu)
}

/** A measurement disturbed by more than this is repeated (at most --max-attempts in all). */
const DISTURBED = 0.10

async function measure (kind: Kind, round: number, args: Args): Promise<Measurement> {
  const noisy = await waitQuiet()
  const port = await freePort()
  let dir: string | null = null
  if (kind === 'C') {
    dir = makeTempDir('fbh-sink-bench-')
  }
  try {
    const [cmd, cargs] = serverCommand(kind, port, dir)
    const server = start(cmd, cargs)
    let warm: WrkResult | null = null
    let main: WrkResult
    let peakRss: number
    let serverCpu: number
    let core0: number
    let core1: number
    let stats: SinkStatsJson | null = null
    let stopped: Awaited<ReturnType<typeof stop>>
    try {
      await waitReady(server, port)
      if (args.warmup > 0) warm = await runWrk(port, args.warmup)
      const c0 = coreTimes()
      const s0 = processCpu(server.pid)
      const t0 = performance.now()
      main = await runWrk(port, args.duration)
      const wall = (performance.now() - t0) / 1000
      serverCpu = (processCpu(server.pid) - s0) / wall
      const c1 = coreTimes()
      core0 = coreBusy(c0, c1, SERVER_CPU)
      core1 = coreBusy(c0, c1, WRK_CPU)
      if (kind !== 'A') {
        stats = await sinkStats(port)
        // The sink counts what it received: every request must have carried its 2 KB body.
        const body = stats?.sink?.bodyBytes
        if (body !== undefined && body < BODY_BYTES * main.requests) throw new Error(`server received ${body} body bytes for ${main.requests}+ requests of ${BODY_BYTES} B`)
      }
      peakRss = memory(server.pid).hwm
    } finally {
      stopped = await stop(server)
    }
    const warnings = [...wrkProblems(main), ...serverWarnings(server.output())]
    if (noisy !== null) warnings.push(noisy)
    if (stopped.killed) warnings.push(`did not exit within ${STOP_TIMEOUT_MS / 1000} s of SIGTERM: killed`)
    else if (stopped.exit.code !== 0 && kind !== 'A') warnings.push(`exit ${stopped.exit.signal ?? stopped.exit.code} after SIGTERM`)
    const m: Measurement = { kind, round, warm, main, peakRss, serverCpu, core0, core1, stopMs: stopped.ms, exit: stopped.exit, warnings }
    if (kind === 'C' && dir !== null) {
      const v = await verifyArchive(dir)
      const answered = 1 + (warm?.requests ?? 0) + main.requests
      m.recording = {
        answered,
        records: v.records,
        files: v.files,
        verifyOk: v.ok,
        verifySeconds: v.seconds,
        dropped: stats?.archive?.recordsDropped ?? null,
        archiveBytes: stats?.archive?.bytesOut ?? null,
        ratio: stats?.archive !== undefined && stats.archive.bytesOut > 0 ? stats.archive.bytesIn / stats.archive.bytesOut : null
      }
      if (!v.ok) warnings.push(`verify failed:\n${v.output.split('\n').slice(-6).join('\n')}`)
      if (v.records < answered) warnings.push(`archive holds ${v.records} records, fewer than the ${answered} requests answered`)
    }
    return m
  } finally {
    if (dir !== null) {
      removeTempDir(dir)
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The long recording run: peak RSS over N requests

interface RssRun extends RecordingCheck {
  target: number
  warm: WrkResult | null
  main: WrkResult
  /** [seconds since the measured run started, requests answered so far, RSS bytes]. */
  samples: Array<[number, number, number]>
  peakRss: number
  seconds: number
  serverCpu: number
  core0: number
  core1: number
  /** The slowest answer to GET /_blackhole/stats (polled every 250 ms under load): [ms, at s]. */
  slowestPoll: [number, number]
  stopMs: number
  warnings: string[]
}

async function rssRun (args: Args): Promise<RssRun> {
  const noisy = await waitQuiet()
  const port = await freePort()
  const dir = makeTempDir('fbh-sink-rss-')
  try {
    const server = start(...serverCommand('C', port, dir))
    let warm: WrkResult | null = null
    let main: WrkResult
    let peakRss: number
    let serverCpu: number
    let core0: number
    let core1: number
    let seconds: number
    let pollMs: [number, number]
    let stats: SinkStatsJson | null
    const samples: Array<[number, number, number]> = []
    let stopped: Awaited<ReturnType<typeof stop>>
    try {
      await waitReady(server, port)
      if (args.warmup > 0) warm = await runWrk(port, args.warmup)
      const rate = warm !== null && warm.rps > 0 ? warm.rps : 10_000
      // Long enough for N requests at 70 % of the warm-up rate, bounded; the poller stops wrk at N.
      const duration = Math.min(RSS_MAX_SECONDS, Math.ceil(args.rssRequests / (0.7 * rate)) + 10)
      process.stderr.write(`rss run: warm-up ${formatInt(rate)} req/s, wrk -d${duration}s, stopped at ${formatInt(args.rssRequests)} requests\n`)
      const c0 = coreTimes()
      const s0 = processCpu(server.pid)
      const t0 = performance.now()
      let noStats = false
      let statsFailures = 0
      let slowestPoll: [number, number] = [0, 0]
      main = await runWrk(port, duration, async (interrupt, finished) => {
        let nextSample = 0
        let lastProgress = 0
        for (;;) {
          await sleep(250)
          if (finished()) return
          if (server.done()) { interrupt(); return }
          const el = performance.now() - t0
          const q0 = performance.now()
          const st = noStats ? null : await sinkStats(port)
          const q = performance.now() - q0
          if (q > slowestPoll[0]) slowestPoll = [q, el / 1000]
          if (st === null && ++statsFailures >= 5) noStats = true // no stats route: the duration bounds the run
          if (st !== null) statsFailures = 0
          const answered = st?.sink?.requests ?? NaN
          if (el >= nextSample) {
            const mem = memory(server.pid)
            samples.push([el / 1000, answered, mem.rss])
            nextSample += RSS_SAMPLE_MS
          }
          if (el - lastProgress >= 30_000) {
            lastProgress = el
            process.stderr.write(`  ${(el / 1000).toFixed(0)} s: ${formatInt(answered)} requests, RSS ${formatBytes(samples[samples.length - 1][2])}\n`)
          }
          if (answered >= args.rssRequests) { interrupt(); return }
        }
      })
      seconds = (performance.now() - t0) / 1000
      pollMs = slowestPoll
      serverCpu = (processCpu(server.pid) - s0) / seconds
      const c1 = coreTimes()
      core0 = coreBusy(c0, c1, SERVER_CPU)
      core1 = coreBusy(c0, c1, WRK_CPU)
      const mem = memory(server.pid)
      samples.push([seconds, NaN, mem.rss])
      stats = await sinkStats(port)
      if (stats?.sink?.requests !== undefined) samples[samples.length - 1][1] = stats.sink.requests
      peakRss = mem.hwm
    } finally {
      stopped = await stop(server)
    }
    const warnings = [...wrkProblems(main), ...serverWarnings(server.output())]
    if (noisy !== null) warnings.push(noisy)
    if (stopped.killed) warnings.push('did not exit within 15 s of SIGTERM: killed')
    else if (stopped.exit.code !== 0) warnings.push(`exit ${stopped.exit.signal ?? stopped.exit.code} after SIGTERM`)
    const answered = 1 + (warm?.requests ?? 0) + main.requests
    const v = await verifyArchive(dir)
    if (!v.ok) warnings.push(`verify failed:\n${v.output.split('\n').slice(-6).join('\n')}`)
    if (v.records < answered) warnings.push(`archive holds ${v.records} records, fewer than the ${answered} requests answered`)
    if (answered < args.rssRequests) warnings.push(`only ${answered} of ${args.rssRequests} requests within ${RSS_MAX_SECONDS} s`)
    return {
      target: args.rssRequests,
      warm,
      main,
      samples,
      peakRss,
      seconds,
      serverCpu,
      core0,
      core1,
      slowestPoll: pollMs,
      answered,
      records: v.records,
      files: v.files,
      verifyOk: v.ok,
      verifySeconds: v.seconds,
      dropped: stats?.archive?.recordsDropped ?? null,
      archiveBytes: stats?.archive?.bytesOut ?? null,
      ratio: stats?.archive !== undefined && stats.archive.bytesOut > 0 ? stats.archive.bytesIn / stats.archive.bytesOut : null,
      stopMs: stopped.ms,
      warnings
    }
  } finally {
    removeTempDir(dir)
  }
}

// ---------------------------------------------------------------------------------------------
// Reports

function wrkCommand (seconds: number | string): string {
  return `taskset -c ${WRK_CPU} wrk -t1 -c${CONNECTIONS} -d${seconds}s --latency -s test/bench/post.lua http://127.0.0.1:PORT${URL_PATH}`
}

function serverCommandText (kind: Kind): string {
  const base = `taskset -c ${SERVER_CPU} node dist/preset/cli.js serve --host 127.0.0.1 --port PORT --log-level warn --stats-interval 0`
  if (kind === 'A') return `taskset -c ${SERVER_CPU} node dist/test/bench/bare-fastify.js PORT`
  return kind === 'B' ? `${base} --no-record` : `${base} --out TMPDIR`
}

interface Ratio { name: string, value: number, perRound: Summary, goal: string, met: boolean }

function throughputReport (ms: Measurement[], args: Args): { tables: string, ratios: Ratio[], notes: string[] } {
  const by = (k: Kind): Measurement[] => ms.filter(m => m.kind === k)
  // Disturbed runs (kept only when every attempt was disturbed) stay out of the figures, as long
  // as the server has at least one clean run.
  const clean = (m: Measurement): boolean => disturbance(m) <= DISTURBED
  const used = (k: Kind): Measurement[] => by(k).some(clean) ? by(k).filter(clean) : by(k)
  const rows: string[][] = []
  const sums = new Map<Kind, { rps: Summary, p99: Summary }>()
  for (const k of KINDS) {
    const xs = used(k)
    const rps = summarize(xs.map(m => m.main.rps))
    const p99 = summarize(xs.map(m => m.main.p99Ms))
    const p50 = summarize(xs.map(m => m.main.p50Ms))
    const rss = summarize(xs.map(m => m.peakRss))
    sums.set(k, { rps, p99 })
    rows.push([
      LABEL[k],
      `${xs.length} of ${by(k).length}`,
      ...summaryCells(rps, formatInt),
      ...summaryCells(p50, format3),
      ...summaryCells(p99, format3),
      mib(rss.median), mib(rss.max),
      pct(median(xs.map(m => m.serverCpu))),
      pct(median(xs.map(m => m.core1))),
      pct(median(xs.map(m => m.main.cpuSeconds / m.main.seconds)))
    ])
  }
  const table = markdownTable(
    ['Server', 'runs used', 'req/s median', 'req/s min–max', 'p50 ms', 'p50 min–max', 'p99 ms', 'p99 min–max', 'peak RSS MiB (median)', 'peak RSS MiB (max)', 'server CPU', 'core 1 busy', 'wrk CPU'],
    rows, ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'])

  // Ratios: of the medians, and the spread of the same ratio paired within each round (rounds
  // where both runs were used).
  const rounds = [...new Set(ms.map(m => m.round))]
  const paired = (num: Kind, den: Kind, f: (m: Measurement) => number): Summary => {
    const v = rounds.map(r => {
      const a = used(num).find(m => m.round === r)
      const b = used(den).find(m => m.round === r)
      return a !== undefined && b !== undefined ? f(a) / f(b) : NaN
    }).filter(Number.isFinite)
    return v.length > 0 ? summarize(v) : { median: NaN, min: NaN, max: NaN, n: 0 }
  }
  const s = (k: Kind): { rps: Summary, p99: Summary } => sums.get(k) as { rps: Summary, p99: Summary }
  const ba = s('B').rps.median / s('A').rps.median
  const cb = s('C').rps.median / s('B').rps.median
  const lat = s('C').p99.median / s('B').p99.median
  const ratios: Ratio[] = [
    { name: 'B/A req/s (no-record vs bare Fastify)', value: ba, perRound: (paired('B', 'A', m => m.main.rps)), goal: '≥ 0.95', met: ba >= 0.95 },
    { name: 'C/B req/s (recording vs no-record)', value: cb, perRound: (paired('C', 'B', m => m.main.rps)), goal: '≥ 0.80', met: cb >= 0.80 },
    { name: 'C p99 / B p99 latency', value: lat, perRound: (paired('C', 'B', m => m.main.p99Ms)), goal: '≤ 1.5', met: lat <= 1.5 }
  ]
  const ratioTable = markdownTable(['Ratio', 'of the medians', 'per round min–max', 'goal', 'met'],
    ratios.map(r => [r.name, r.value.toFixed(3), r.perRound.n === 0 ? 'n/a' : `${r.perRound.min.toFixed(3)}–${r.perRound.max.toFixed(3)} (${r.perRound.n} round${r.perRound.n === 1 ? '' : 's'})`, r.goal, r.met ? 'yes' : '**no**']),
    ['l', 'r', 'r', 'l', 'l'])

  const cs = by('C').filter(m => m.recording !== undefined)
  const recRows = cs.map(m => {
    const r = m.recording as RecordingCheck
    return [String(m.round + 1), formatInt(r.answered), formatInt(r.records), r.records >= r.answered && r.verifyOk ? 'yes' : '**no**',
      r.dropped === null ? 'n/a' : formatInt(r.dropped), r.ratio === null ? 'n/a' : r.ratio.toFixed(2), String(r.files), (m.stopMs / 1000).toFixed(2)]
  })
  const recTable = markdownTable(['C round', 'requests answered', 'records verified', 'records ≥ requests', 'dropped', 'compression', 'files', 'SIGTERM to exit s'],
    recRows, ['r', 'r', 'r', 'l', 'r', 'r', 'r', 'r'])

  const notes: string[] = []
  notes.push(`A run is measured again (up to ${args.maxAttempts} times in all) when CPU 0 or CPU 1 spent more than ${pct(DISTURBED)} of the run on other processes; a run still disturbed after that is kept in the list but left out of the figures when its server has clean runs`)
  const kept = KINDS.flatMap(used)
  const foreign0 = Math.max(...kept.map(m => m.core0 - m.serverCpu))
  const foreign1 = Math.max(...kept.map(m => m.core1 - (Number.isFinite(m.main.cpuSeconds) ? m.main.cpuSeconds / m.main.seconds : 0)))
  const dropped = ms.length - kept.length
  if (dropped > 0) notes.push(`${dropped} disturbed run(s) left out of the figures (listed below)`)
  notes.push(`In the runs used, CPU 0 was busy beyond the server's own CPU time at most ${pct(foreign0)} (other processes, interrupts), CPU 1 beyond wrk's at most ${pct(foreign1)}`)
  for (const m of ms) for (const w of m.warnings) notes.push(`round ${m.round + 1} ${m.kind}: ${w}`)
  const tables = [table, '**Ratios** (goals from issues 4 and 8):', '', ratioTable, `**Recording check** (C: \`blackhole verify\` on the archive after SIGTERM; requests answered = readiness probe + warm-up + measured run; ${args.duration} s runs):`, '', recTable].join('\n')
  return { tables, ratios, notes }
}

function rssReport (r: RssRun): string {
  const warmCut = 30
  const late = r.samples.filter(s => s[0] >= warmCut).map(s => s[2])
  const first = late[0]
  const last = late[late.length - 1]
  const lines = [
    `- ${formatInt(r.answered)} requests answered in ${r.seconds.toFixed(0)} s of wrk (plus a ${r.warm === null ? 0 : r.warm.seconds.toFixed(0)} s warm-up), ${formatInt(r.main.rps)} req/s, p99 ${format3(r.main.p99Ms)} ms; server CPU ${pct(r.serverCpu)}`,
    `- Other load during the run: CPU 0 busy ${pct(r.core0 - r.serverCpu)} beyond the server's CPU time, CPU 1 ${pct(r.core1 - r.main.cpuSeconds / r.main.seconds)} beyond wrk's (wrk CPU ${pct(r.main.cpuSeconds / r.main.seconds)}); this run measures memory, the rate is only indicative`,
    `- Slowest answer to \`GET /_blackhole/stats\` (polled every 250 ms during the run, queued behind the 64 connections): ${r.slowestPoll[0].toFixed(0)} ms, at ${r.slowestPoll[1].toFixed(0)} s`,
    `- **Peak RSS (VmHWM): ${mib(r.peakRss)} MiB**`,
    late.length > 0
      ? `- RSS after the first ${warmCut} s: ${mib(Math.min(...late))}–${mib(Math.max(...late))} MiB (${mib(first)} MiB at the first sample past ${warmCut} s, ${mib(last)} MiB at the end: ${last >= first ? '+' : ''}${mib(last - first)} MiB)`
      : `- (run shorter than ${warmCut} s: no post-warm-up samples)`,
    `- Archive: ${formatInt(r.records)} records verified in ${r.files} file(s) (${r.records >= r.answered && r.verifyOk ? 'at least every request answered' : '**fewer than the requests answered**'}), ` +
      `${r.archiveBytes === null ? '' : `${formatBytes(r.archiveBytes)} on disk, compression ${r.ratio?.toFixed(2)}, `}dropped ${r.dropped ?? 'n/a'}; SIGTERM to exit ${(r.stopMs / 1000).toFixed(1)} s`,
    `- \`blackhole verify\` over it (unpinned, page cache warm): ${r.verifySeconds.toFixed(1)} s, ${formatInt(r.records / r.verifySeconds)} records/s`,
    '',
    'RSS every 10 s of the measured run:',
    '',
    markdownTable(['s', 'requests answered', 'RSS MiB'],
      r.samples.map(s => [s[0].toFixed(0), Number.isFinite(s[1]) ? formatInt(s[1]) : 'n/a', mib(s[2])]), ['r', 'r', 'r'])
  ]
  for (const w of r.warnings) lines.push(`- note: ${w}`)
  return lines.join('\n')
}

// ---------------------------------------------------------------------------------------------
// Docs: the sink-bench section holds two parts, each rewritten only by the run that measures it.

const SECTION = 'sink-bench'
const PART_T = 'sink-bench-throughput'
const PART_R = 'sink-bench-rss'

function partOf (text: string, name: string): string | null {
  const s = `<!-- ${name}:start -->`
  const e = `<!-- ${name}:end -->`
  const i = text.indexOf(s)
  const j = text.indexOf(e)
  return i !== -1 && j > i ? text.slice(i, j + e.length) : null
}

function block (name: string, body: string): string {
  return `<!-- ${name}:start -->\n${body.trimEnd()}\n<!-- ${name}:end -->`
}

function writeDocs (throughput: string | null, rss: string | null): void {
  const current = existsSync(DOCS) ? readFileSync(DOCS, 'utf8') : ''
  const section = partOf(current, SECTION) ?? ''
  const t = throughput !== null ? block(PART_T, throughput) : partOf(section, PART_T) ?? block(PART_T, '_Not measured yet._')
  const r = rss !== null ? block(PART_R, rss) : partOf(section, PART_R) ?? block(PART_R, '_Not measured yet._')
  const body = [
    '### Preset sink throughput (`test/bench/sink.ts`)',
    '',
    'Three servers, each started fresh on a free 127.0.0.1 port and pinned to CPU 0, loaded by wrk',
    'pinned to CPU 1 with 64 keep-alive connections POSTing 2048-byte JSON documents (100 distinct',
    'ones in rotation, `Content-Type: application/json`) to `/ingest`:',
    '',
    `- A: \`${serverCommandText('A')}\` (\`removeAllContentTypeParsers()\`, a \`*\` parser that drains the body, one route for every method on \`/*\`, empty 200, logger off)`,
    `- B: \`${serverCommandText('B')}\``,
    `- C: \`${serverCommandText('C')}\` (recording every request with the default codec)`,
    '',
    'Rounds alternate the order (A B C, B C A, C A B, ...). Per server: wait until it answers, a',
    'discarded warm-up run, the measured run, peak RSS (`VmHWM` from `/proc/PID/status`), then',
    'SIGTERM; for C, `blackhole verify` counts the records in the sealed archive afterwards.',
    'Medians over the rounds with the min–max spread. "server CPU" is the server process\'s CPU time',
    '(every thread) over the measured run\'s wall time; "core 1 busy" is CPU 1 (wrk\'s) from',
    '`/proc/stat`; "wrk CPU" is wrk\'s own CPU time (printed by `post.lua`).',
    '',
    t,
    '',
    r
  ].join('\n')
  replaceDocSection(DOCS, SECTION, body, DOCS_INTRO)
}

const DOCS_INTRO = '# Benchmarks\n'

async function main (): Promise<void> {
  const argv = process.argv.slice(2)
  const args = parseCli(argv)
  wrkBenchPreflight([CLI, BARE, POST_LUA])
  const machine = machineInfo()
  const code = codeVersion()
  const started = Date.now()
  const load = os.loadavg().map(x => x.toFixed(2)).join(' ')
  process.stderr.write(`sink bench: ${args.rounds} rounds × A B C, warm-up ${args.warmup} s, run ${args.duration} s; load average ${load}\n`)

  let throughputDoc: string | null = null
  let rssDoc: string | null = null
  const measurements: Measurement[] = []
  for (let r = 0; r < args.rounds; r++) {
    const order = KINDS.map((_, i) => KINDS[(i + r) % KINDS.length])
    for (const k of order) {
      let m = await measure(k, r, args)
      let attempts = 1
      for (; attempts < args.maxAttempts && disturbance(m) > DISTURBED; attempts++) {
        process.stderr.write(`round ${r + 1} ${k}: other load on the cores (${pct(disturbance(m))}), measuring again\n`)
        m = await measure(k, r, args)
      }
      if (disturbance(m) > DISTURBED) m.warnings.unshift(`**disturbed**: other processes took ${pct(disturbance(m))} of a core during the run kept (attempt ${attempts} of ${args.maxAttempts})`)
      else if (attempts > 1) m.warnings.unshift(`measured ${attempts} times: the earlier attempts were disturbed by other processes`)
      measurements.push(m)
      const rec = m.recording === undefined ? '' : `, records ${formatInt(m.recording.records)} ≥ answered ${formatInt(m.recording.answered)}: ${m.recording.records >= m.recording.answered ? 'yes' : 'NO'}`
      process.stderr.write(`round ${r + 1} ${k}: ${formatInt(m.main.rps)} req/s, p99 ${format3(m.main.p99Ms)} ms, peak RSS ${mib(m.peakRss)} MiB, server CPU ${pct(m.serverCpu)}, core0 ${pct(m.core0)}, core1 ${pct(m.core1)}, wrk CPU ${pct(m.main.cpuSeconds / m.main.seconds)}${rec}\n`)
      for (const w of m.warnings) process.stderr.write(`  warning: ${w}\n`)
    }
  }
  if (measurements.length > 0) {
    const t = throughputReport(measurements, args)
    process.stdout.write(`\n${t.tables}\n`)
    for (const n of t.notes) process.stdout.write(`- ${n}\n`)
    const elapsed = (Date.now() - started) / 1000
    throughputDoc = [
      '#### Throughput, latency and peak RSS',
      '',
      'Commands:',
      '',
      '```sh',
      'npm run build',
      wrkBenchCommand('sink.js', args),
      '```',
      '',
      'wrk, for each server (warm-up with the same command and `-d' + String(args.warmup) + 's`):',
      '',
      '```sh',
      wrkCommand(args.duration),
      '```',
      '',
      ...machineLines(machine),
      `- Code: ${code}`,
      `- ${args.rounds} rounds × 3 servers, ${args.warmup} s warm-up + ${args.duration} s measured each; whole run ${elapsed.toFixed(0)} s; load average before the run ${load}`,
      '',
      t.tables,
      ...t.notes.map(n => `- ${n}`)
    ].join('\n')
  }

  if (args.rssRequests > 0) {
    const t0 = Date.now()
    const r = await rssRun(args)
    const report = rssReport(r)
    process.stdout.write(`\nLong recording run (C), ${formatInt(args.rssRequests)} requests:\n\n${report}\n`)
    const m = machineInfo()
    rssDoc = [
      `#### Peak RSS over ${formatInt(args.rssRequests)} recorded requests`,
      '',
      'One recording server (C) loaded until it has answered the requested number of requests',
      '(wrk is interrupted with SIGINT once `/_blackhole/stats` reports it; RSS from `/proc/PID/status`):',
      '',
      '```sh',
      'npm run build',
      `node dist/test/bench/sink.js --rounds 0 --rss-requests ${args.rssRequests} --write-docs`,
      '```',
      '',
      ...machineLines(m),
      `- Code: ${code}`,
      `- whole run ${((Date.now() - t0) / 1000).toFixed(0)} s`,
      '',
      report
    ].join('\n')
  }

  if (args.writeDocs) {
    writeDocs(throughputDoc, rssDoc)
    process.stderr.write(`updated ${DOCS}\n`)
  }
}

try {
  await main()
} catch (err) {
  process.stderr.write(`sink bench: ${(err as Error).stack ?? String(err)}\n`)
  process.exitCode = 1
}
