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
import os from 'node:os'
import path from 'node:path'
import { readCodec } from '../../lib/format/codecs.js'
import { BENCHMARKS_DOC, replaceDocParts } from './support/docs.js'
import { format3, formatBytes, formatInt, markdownTable, mib, pct, summaryCells } from './support/format.js'
import { BENCH_DIR, CLI, POST_LUA, SERVER_CPU } from './support/layout.js'
import { codeVersion, machineInfo, machineLines } from './support/machine.js'
import { installCleanup, makeTempDir, removeTempDir, sleep, type Exit } from './support/processes.js'
import { memory } from './support/procfs.js'
import { serveArgs, serveCommandText, sinkStats, type SinkStats } from './support/server.js'
import { median, perRoundRatio, summarize, type Ratio, type Summary } from './support/statistics.js'
import { verifyArchive } from './support/verify.js'
import { runWrk, type WrkResult } from './support/wrk.js'
import {
  DISTURBED, KINDS, measureRounds, measureServer, otherLoad, parseWrkBenchCli, ratioTable, usedRuns, wrkBenchCommandLines, wrkBenchPreflight,
  type CpuUse, type Kind, type WrkBenchCli, type WrkRun
} from './support/wrk-bench.js'

const BARE = path.join(BENCH_DIR, 'bare-fastify.js')
/** SINK_BENCH_DOCS redirects --write-docs to another file (to try the harness without touching the docs). */
const DOCS = process.env.SINK_BENCH_DOCS ?? BENCHMARKS_DOC

const BODY_BYTES = 2048 // post.lua's bodies
const URL_PATH = '/ingest'
const RSS_MAX_SECONDS = 600
const RSS_SAMPLE_MS = 10_000

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

installCleanup('sink bench')

// ---------------------------------------------------------------------------------------------
// One server, measured once

interface Measurement extends WrkRun {
  kind: Kind
  warm: WrkResult | null
  /** Peak RSS (VmHWM) in bytes, read before SIGTERM. */
  peakRss: number
  stopMs: number
  exit: Exit
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
  return ['taskset', ['-c', SERVER_CPU, node, ...serveArgs(CLI, port, kind === 'B' ? ['--no-record'] : ['--out', dir as string])]]
}

/** The banner lines start with "blackhole:" / "bare-fastify:"; anything else is worth a look. */
const BANNER = /^(blackhole|bare-fastify): /

/** The wrk run against this benchmark's route. */
const wrk = async (port: number, seconds: number, whileRunning?: (interrupt: () => void, finished: () => boolean) => Promise<void>): Promise<WrkResult> =>
  await runWrk(port, URL_PATH, seconds, whileRunning)

/** Checks the archive of a recording server against the requests it answered. */
async function checkRecording (dir: string, answered: number, stats: SinkStats | null): Promise<{ check: RecordingCheck, warnings: string[] }> {
  const v = await verifyArchive(CLI, dir)
  const warnings: string[] = []
  if (!v.ok) warnings.push(`verify failed:\n${v.output.split('\n').slice(-6).join('\n')}`)
  if (v.records < answered) warnings.push(`archive holds ${v.records} records, fewer than the ${answered} requests answered`)
  const check: RecordingCheck = {
    answered,
    records: v.records,
    files: v.files,
    verifyOk: v.ok,
    verifySeconds: v.seconds,
    dropped: stats?.archive?.recordsDropped ?? null,
    archiveBytes: stats?.archive?.bytesOut ?? null,
    ratio: stats?.archive !== undefined && stats.archive.bytesOut > 0 ? stats.archive.bytesIn / stats.archive.bytesOut : null
  }
  return { check, warnings }
}

async function measure (kind: Kind, round: number, args: Args): Promise<Measurement> {
  const dir = kind === 'C' ? makeTempDir('fbh-sink-bench-') : null
  try {
    const r = await measureServer({
      command: port => serverCommand(kind, port, dir),
      urlPath: URL_PATH,
      banner: BANNER,
      // The bare Fastify app has no SIGTERM handler: it dies of the signal.
      anyExit: kind === 'A',
      load: async ({ port }) => await wrk(port, args.duration),
      inspect: async ({ port, main }) => {
        if (kind === 'A') return null
        const stats = await sinkStats(port)
        // The sink counts what it received: every request must have carried its 2 KB body.
        const body = stats?.sink?.bodyBytes
        if (body !== undefined && body < BODY_BYTES * main.requests) throw new Error(`server received ${body} body bytes for ${main.requests}+ requests of ${BODY_BYTES} B`)
        return stats
      }
    }, args.warmup)
    const { warm, main, warnings } = r
    const m: Measurement = { kind, round, warm, main, peakRss: r.peakRss, serverCpu: r.serverCpu, core0: r.core0, core1: r.core1, stopMs: r.stopped.ms, exit: r.stopped.exit, warnings }
    if (dir !== null) {
      const c = await checkRecording(dir, 1 + (warm?.requests ?? 0) + main.requests, r.inspected)
      m.recording = c.check
      warnings.push(...c.warnings)
    }
    return m
  } finally {
    if (dir !== null) removeTempDir(dir)
  }
}

// ---------------------------------------------------------------------------------------------
// The long recording run: peak RSS over N requests

interface RssRun extends RecordingCheck, CpuUse {
  target: number
  warm: WrkResult | null
  main: WrkResult
  /** [seconds since the measured run started, requests answered so far, RSS bytes]. */
  samples: Array<[number, number, number]>
  peakRss: number
  /** The slowest answer to GET /_blackhole/stats (polled every 250 ms under load): [ms, at s]. */
  slowestPoll: [number, number]
  stopMs: number
  warnings: string[]
}

async function rssRun (args: Args): Promise<RssRun> {
  const dir = makeTempDir('fbh-sink-rss-')
  try {
    const samples: Array<[number, number, number]> = []
    let slowestPoll: [number, number] = [0, 0]
    const r = await measureServer({
      command: port => serverCommand('C', port, dir),
      urlPath: URL_PATH,
      banner: BANNER,
      load: async ({ server, port, warm }) => {
        const rate = warm !== null && warm.rps > 0 ? warm.rps : 10_000
        // Long enough for N requests at 70 % of the warm-up rate, bounded; the poller stops wrk at N.
        const duration = Math.min(RSS_MAX_SECONDS, Math.ceil(args.rssRequests / (0.7 * rate)) + 10)
        process.stderr.write(`rss run: warm-up ${formatInt(rate)} req/s, wrk -d${duration}s, stopped at ${formatInt(args.rssRequests)} requests\n`)
        const t0 = performance.now()
        let noStats = false
        let statsFailures = 0
        return await wrk(port, duration, async (interrupt, finished) => {
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
      },
      inspect: async ({ server, port, seconds }) => {
        samples.push([seconds, NaN, memory(server.pid).rss])
        const stats = await sinkStats(port)
        if (stats?.sink?.requests !== undefined) samples[samples.length - 1][1] = stats.sink.requests
        return stats
      }
    }, args.warmup)
    const { warm, main, warnings } = r
    const answered = 1 + (warm?.requests ?? 0) + main.requests
    const c = await checkRecording(dir, answered, r.inspected)
    warnings.push(...c.warnings)
    if (answered < args.rssRequests) warnings.push(`only ${answered} of ${args.rssRequests} requests within ${RSS_MAX_SECONDS} s`)
    return {
      ...c.check,
      target: args.rssRequests,
      warm,
      main,
      samples,
      peakRss: r.peakRss,
      seconds: r.seconds,
      serverCpu: r.serverCpu,
      core0: r.core0,
      core1: r.core1,
      slowestPoll,
      stopMs: r.stopped.ms,
      warnings
    }
  } finally {
    removeTempDir(dir)
  }
}

// ---------------------------------------------------------------------------------------------
// Reports

function serverCommandText (kind: Kind): string {
  if (kind === 'A') return `taskset -c ${SERVER_CPU} node dist/test/bench/bare-fastify.js PORT`
  return `taskset -c ${SERVER_CPU} ${serveCommandText(kind === 'B' ? ['--no-record'] : ['--out', 'TMPDIR'])}`
}

function throughputReport (ms: Measurement[], args: Args): { tables: string, notes: string[] } {
  const by = (k: Kind): Measurement[] => ms.filter(m => m.kind === k)
  const used = (k: Kind): Measurement[] => usedRuns(by(k))
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
  const paired = (num: Kind, den: Kind, f: (m: Measurement) => number): Summary | null => perRoundRatio(used(num), used(den), f)
  const s = (k: Kind): { rps: Summary, p99: Summary } => sums.get(k) as { rps: Summary, p99: Summary }
  const ba = s('B').rps.median / s('A').rps.median
  const cb = s('C').rps.median / s('B').rps.median
  const lat = s('C').p99.median / s('B').p99.median
  const ratios: Ratio[] = [
    { name: 'B/A req/s (no-record vs bare Fastify)', value: ba, perRound: (paired('B', 'A', m => m.main.rps)), goal: '≥ 0.95', met: ba >= 0.95 },
    { name: 'C/B req/s (recording vs no-record)', value: cb, perRound: (paired('C', 'B', m => m.main.rps)), goal: '≥ 0.80', met: cb >= 0.80 },
    { name: 'C p99 / B p99 latency', value: lat, perRound: (paired('C', 'B', m => m.main.p99Ms)), goal: '≤ 1.5', met: lat <= 1.5 }
  ]

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
  const [foreign0, foreign1] = otherLoad(kept)
  const dropped = ms.length - kept.length
  if (dropped > 0) notes.push(`${dropped} disturbed run(s) left out of the figures (listed below)`)
  notes.push(`In the runs used, CPU 0 was busy beyond the server's own CPU time at most ${pct(foreign0)} (other processes, interrupts), CPU 1 beyond wrk's at most ${pct(foreign1)}`)
  for (const m of ms) for (const w of m.warnings) notes.push(`round ${m.round + 1} ${m.kind}: ${w}`)
  const tables = [table, '**Ratios** (goals from issues 4 and 8):', '', ratioTable(ratios), `**Recording check** (C: \`blackhole verify\` on the archive after SIGTERM; requests answered = readiness probe + warm-up + measured run; ${args.duration} s runs):`, '', recTable].join('\n')
  return { tables, notes }
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

function writeDocs (throughput: string | null, rss: string | null): void {
  const head = [
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
    '`/proc/stat`; "wrk CPU" is wrk\'s own CPU time (printed by `post.lua`).'
  ].join('\n')
  replaceDocParts(DOCS, SECTION, head, [[PART_T, throughput], [PART_R, rss]])
}

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
  const measurements = await measureRounds(args, async (k, r) => await measure(k, r, args), m => {
    const rec = m.recording === undefined ? '' : `, records ${formatInt(m.recording.records)} ≥ answered ${formatInt(m.recording.answered)}: ${m.recording.records >= m.recording.answered ? 'yes' : 'NO'}`
    return `${formatInt(m.main.rps)} req/s, p99 ${format3(m.main.p99Ms)} ms, peak RSS ${mib(m.peakRss)} MiB, server CPU ${pct(m.serverCpu)}, core0 ${pct(m.core0)}, core1 ${pct(m.core1)}, wrk CPU ${pct(m.main.cpuSeconds / m.main.seconds)}${rec}`
  })
  if (measurements.length > 0) {
    const t = throughputReport(measurements, args)
    process.stdout.write(`\n${t.tables}\n`)
    for (const n of t.notes) process.stdout.write(`- ${n}\n`)
    const elapsed = (Date.now() - started) / 1000
    throughputDoc = [
      '#### Throughput, latency and peak RSS',
      '',
      ...wrkBenchCommandLines('sink.js', args, URL_PATH),
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
