// Throughput cost of the fastify-blackhole plugin inside an app, with wrk.
//
//   A  the app without the plugin (test/bench/plugin-app.ts: `POST /orders`, built-in JSON parser,
//      answers `{ id, items }` computed from the body)
//   B  the same app with the plugin at sample 1
//   C  the same app with the plugin at sample 0.05
//   (B and C: dir = a fresh temp dir, default codec, default redaction)
//
// Each round starts each server fresh on a free 127.0.0.1 port, pinned to CPU 0 (taskset -c 0),
// in rotated order (round 1: A B C, round 2: B C A, ...). Per server: wait until it answers, a
// discarded warm-up, then `taskset -c 1 wrk -t1 -c64 -dNs --latency -s test/bench/post.lua`
// (2 KB JSON order documents rotating among 100), the plugin's stats, SIGTERM (SIGKILL after
// 15 s). For B and C the archive is verified afterwards (`blackhole verify`): B must hold at least
// as many records as requests were answered, C about 5 % of them.
//
// Usage (after `npm run build`):
//   node dist/test/bench/plugin.js [--rounds 5] [--duration 10] [--warmup 3] [--max-attempts 3] [--write-docs]
//   --max-attempts   a run during which other processes took more than 10 % of CPU 0 or CPU 1
//                    is measured again, up to this many times in all (shared machines)
//   --write-docs     rewrite the plugin-bench section of docs/benchmarks.md;
//                    PLUGIN_BENCH_DOCS=FILE writes elsewhere
//
// Linux only (taskset, /proc), at least 2 CPUs, wrk on PATH.
import os from 'node:os'
import path from 'node:path'
import { readCodec } from '../../lib/format/codecs.js'
import type { BlackholeStats } from '../../plugin/index.js'
import { BENCHMARKS_DOC, replaceDocSection } from './support/docs.js'
import { format3, formatInt, markdownTable, mib, pct, summaryCells } from './support/format.js'
import { BENCH_DIR, CLI, CONNECTIONS, OUT_NAME, POST_LUA, SERVER_CPU } from './support/layout.js'
import { codeVersion, machineInfo, machineLines } from './support/machine.js'
import { installCleanup, makeTempDir, removeTempDir } from './support/processes.js'
import { httpGet } from './support/server.js'
import { perRoundRatio, summarize, type Ratio, type Summary } from './support/statistics.js'
import { verifyArchive } from './support/verify.js'
import { runWrk, type WrkResult } from './support/wrk.js'
import {
  DISTURBED, KINDS, measureRounds, measureServer, otherLoad, parseWrkBenchCli, ratioTable, usedRuns, wrkBenchCommandLines, wrkBenchPreflight,
  type Kind, type WrkBenchCli, type WrkRun
} from './support/wrk-bench.js'

const APP = path.join(BENCH_DIR, 'plugin-app.js')
/** PLUGIN_BENCH_DOCS redirects --write-docs to another file. */
const DOCS = process.env.PLUGIN_BENCH_DOCS ?? BENCHMARKS_DOC

const URL_PATH = '/orders'
const SAMPLE_C = 0.05

// The codec 'auto' picks on this machine (what the servers under test use).
const CODEC = readCodec().name
const LABEL: Record<Kind, string> = {
  A: 'A app without the plugin',
  B: 'B plugin, sample 1',
  C: `C plugin, sample ${SAMPLE_C}`
}

type Args = WrkBenchCli

installCleanup('plugin bench')

async function pluginStats (port: number): Promise<BlackholeStats | null> {
  try {
    const r = await httpGet(port, '/bench-stats')
    const s = r.status === 200 ? JSON.parse(r.body) as Partial<BlackholeStats> : null
    return s?.capture !== undefined && s.archive !== undefined ? s as BlackholeStats : null
  } catch {
    return null
  }
}

// ---------------------------------------------------------------------------------------------
// One server, measured once

interface RecordingCheck {
  /** 2xx answers wrk and the harness saw: the readiness probe, the warm-up and the measured run. */
  answered: number
  records: number
  files: number
  verifyOk: boolean
  /** What the records should be: >= answered (B); within [lo, hi] around 5 % of answered (C). */
  expectLo: number
  expectHi: number
  ok: boolean
  /** The plugin's counters just before SIGTERM (null when /bench-stats did not answer). */
  stats: BlackholeStats | null
}

interface Measurement extends WrkRun {
  kind: Kind
  warm: WrkResult | null
  peakRss: number
  stopMs: number
  recording?: RecordingCheck
}

/** The expected record count: B every request; C a binomial draw, ± 5 standard deviations. */
function expected (kind: Kind, answered: number): [number, number] {
  if (kind === 'B') return [answered, Infinity]
  const mean = answered * SAMPLE_C
  const sd = Math.sqrt(answered * SAMPLE_C * (1 - SAMPLE_C))
  // + CONNECTIONS * SAMPLE_C: requests the server answered while wrk was stopping, never counted by wrk.
  return [Math.floor(mean - 5 * sd), Math.ceil(mean + 5 * sd + CONNECTIONS)]
}

async function measure (kind: Kind, round: number, args: Args): Promise<Measurement> {
  const dir = kind === 'A' ? null : makeTempDir('fbh-plugin-bench-')
  try {
    const r = await measureServer({
      command: port => ['taskset', ['-c', SERVER_CPU, process.execPath, APP, kind, String(port), ...(dir === null ? [] : [dir])]],
      urlPath: URL_PATH,
      banner: /^plugin-app: variant /,
      load: async ({ port }) => await runWrk(port, URL_PATH, args.duration),
      inspect: async ({ port }) => kind === 'A' ? null : await pluginStats(port)
    }, args.warmup)
    const { warm, main, warnings, inspected: stats } = r
    const m: Measurement = { kind, round, warm, main, peakRss: r.peakRss, serverCpu: r.serverCpu, core0: r.core0, core1: r.core1, stopMs: r.stopped.ms, warnings }
    if (dir !== null) {
      const v = await verifyArchive(CLI, dir)
      const answered = 1 + (warm?.requests ?? 0) + main.requests
      const [lo, hi] = expected(kind, answered)
      const ok = v.ok && v.records >= lo && v.records <= hi
      m.recording = { answered, records: v.records, files: v.files, verifyOk: v.ok, expectLo: lo, expectHi: hi, ok, stats }
      if (!v.ok) warnings.push(`verify failed:\n${v.output.split('\n').slice(-6).join('\n')}`)
      if (!ok) warnings.push(`archive holds ${v.records} records for ${answered} requests answered, expected ${lo}–${Number.isFinite(hi) ? hi : '∞'}`)
      if (stats === null) warnings.push('GET /bench-stats did not answer')
      else if (stats.capture.errors > 0 || stats.archive.recordsDropped > 0) warnings.push(`plugin: ${stats.capture.errors} capture errors, ${stats.archive.recordsDropped} records dropped`)
    }
    return m
  } finally {
    if (dir !== null) removeTempDir(dir)
  }
}

// ---------------------------------------------------------------------------------------------
// Report

function report (ms: Measurement[], args: Args): string {
  const by = (k: Kind): Measurement[] => ms.filter(m => m.kind === k)
  const used = (k: Kind): Measurement[] => usedRuns(by(k))
  const sums = new Map<Kind, { rps: Summary, p99: Summary }>()
  const rows = KINDS.map(k => {
    const xs = used(k)
    const rps = summarize(xs.map(m => m.main.rps))
    const p50 = summarize(xs.map(m => m.main.p50Ms))
    const p99 = summarize(xs.map(m => m.main.p99Ms))
    sums.set(k, { rps, p99 })
    return [
      LABEL[k], `${xs.length} of ${by(k).length}`,
      ...summaryCells(rps, formatInt), ...summaryCells(p50, format3), ...summaryCells(p99, format3),
      mib(summarize(xs.map(m => m.peakRss)).median),
      pct(summarize(xs.map(m => m.serverCpu)).median),
      xs.map(m => formatInt(m.main.rps)).join(', ')
    ]
  })
  const table = markdownTable(
    ['Variant', 'runs used', 'req/s median', 'req/s min–max', 'p50 ms', 'p50 min–max', 'p99 ms', 'p99 min–max', 'peak RSS MiB (median)', 'server CPU', 'req/s per round'],
    rows, ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'l'])

  const paired = (num: Kind, den: Kind, f: (m: Measurement) => number): Summary | null => perRoundRatio(used(num), used(den), f)
  const s = (k: Kind): { rps: Summary, p99: Summary } => sums.get(k) as { rps: Summary, p99: Summary }
  const ba = s('B').rps.median / s('A').rps.median
  const ca = s('C').rps.median / s('A').rps.median
  const rps = (m: Measurement): number => m.main.rps
  const p99 = (m: Measurement): number => m.main.p99Ms
  const ratios: Ratio[] = [
    { name: 'B/A req/s (sample 1 vs no plugin)', value: ba, perRound: paired('B', 'A', rps), goal: '≥ 0.85', met: ba >= 0.85 },
    { name: `C/A req/s (sample ${SAMPLE_C} vs no plugin)`, value: ca, perRound: paired('C', 'A', rps), goal: '≥ 0.98', met: ca >= 0.98 },
    { name: 'B/A p99 latency', value: s('B').p99.median / s('A').p99.median, perRound: paired('B', 'A', p99), goal: '(none)', met: null },
    { name: 'C/A p99 latency', value: s('C').p99.median / s('A').p99.median, perRound: paired('C', 'A', p99), goal: '(none)', met: null }
  ]

  const recRows = ms.filter(m => m.recording !== undefined).map(m => {
    const r = m.recording as RecordingCheck
    const st = r.stats
    return [String(m.round + 1), m.kind, formatInt(r.answered), formatInt(r.records), pct(r.records / r.answered),
      Number.isFinite(r.expectHi) ? `${formatInt(r.expectLo)}–${formatInt(r.expectHi)}` : `≥ ${formatInt(r.expectLo)}`,
      r.ok ? 'yes' : '**no**', st === null ? 'n/a' : formatInt(st.capture.recorded), st === null ? 'n/a' : formatInt(st.archive.recordsDropped),
      st === null ? 'n/a' : formatInt(st.capture.errors), String(r.files), (m.stopMs / 1000).toFixed(2)]
  })
  const recTable = markdownTable(['round', 'variant', 'requests answered (2xx)', 'records verified', 'records / answered', 'expected', 'ok', 'plugin: recorded', 'dropped', 'capture errors', 'files', 'SIGTERM to exit s'],
    recRows, ['r', 'l', 'r', 'r', 'r', 'r', 'l', 'r', 'r', 'r', 'r', 'r'])

  const notes: string[] = []
  notes.push(`A run is measured again (up to ${args.maxAttempts} times in all) when CPU 0 or CPU 1 spent more than ${pct(DISTURBED)} of it on other processes; a run still disturbed after that is left out of the figures when its variant has clean runs`)
  const kept = KINDS.flatMap(used)
  const [foreign0, foreign1] = otherLoad(kept)
  if (ms.length > kept.length) notes.push(`${ms.length - kept.length} disturbed run(s) left out of the figures`)
  notes.push(`In the runs used, CPU 0 was busy beyond the server's own CPU time at most ${pct(foreign0)}, CPU 1 beyond wrk's at most ${pct(foreign1)} (wrk CPU median ${pct(summarize(kept.map(m => m.main.cpuSeconds / m.main.seconds)).median)})`)
  for (const m of ms) for (const w of m.warnings) notes.push(`round ${m.round + 1} ${m.kind}: ${w}`)
  return [
    table,
    '**Ratios** (goals from issue 3: at sample 1 the app keeps at least 85 % of its throughput, at sample 0.05 at least 98 %):',
    '',
    ratioTable(ratios),
    `**Recording check** (\`blackhole verify\` on the archive after SIGTERM; requests answered = readiness probe + warm-up + measured run, as counted by wrk; B must hold at least that many records, C ${pct(SAMPLE_C)} of them ± 5 standard deviations; "plugin: recorded" and "dropped" from \`app.archive.stats()\` just before SIGTERM):`,
    '',
    recTable,
    ...notes.map(n => `- ${n}`)
  ].join('\n')
}

async function main (): Promise<void> {
  const args = parseWrkBenchCli(process.argv.slice(2), 'plugin.js')
  wrkBenchPreflight([CLI, APP, POST_LUA])
  const machine = machineInfo()
  const code = codeVersion()
  const started = Date.now()
  const load = os.loadavg().map(x => x.toFixed(2)).join(' ')
  process.stderr.write(`plugin bench: ${args.rounds} rounds × A B C, warm-up ${args.warmup} s, run ${args.duration} s; load average ${load}\n`)

  const measurements = await measureRounds(args, async (k, r) => await measure(k, r, args), m => {
    const rec = m.recording === undefined ? '' : `, records ${formatInt(m.recording.records)} for ${formatInt(m.recording.answered)} answered: ${m.recording.ok ? 'ok' : 'NOT OK'}`
    return `${formatInt(m.main.rps)} req/s, p99 ${format3(m.main.p99Ms)} ms, server CPU ${pct(m.serverCpu)}, core0 ${pct(m.core0)}, core1 ${pct(m.core1)}${rec}`
  })
  const text = report(measurements, args)
  process.stdout.write(`\n${text}\n`)
  if (args.writeDocs) {
    const body = [
      '### Plugin overhead (`test/bench/plugin.ts`)',
      '',
      'One Fastify 5 app (`test/bench/plugin-app.ts`, logger off) with a JSON route: `POST /orders`',
      'parses the body with Fastify\'s built-in JSON parser and answers `{ id, items }` (the order id',
      'and the number of items, serialized with a response schema). Three variants, each started fresh',
      'on a free 127.0.0.1 port and pinned to CPU 0, loaded by wrk pinned to CPU 1 with 64 keep-alive',
      'connections POSTing 2048-byte JSON order documents (`test/bench/post.lua`, 100 distinct ones in rotation):',
      '',
      `- A: \`taskset -c ${SERVER_CPU} node dist/test/bench/plugin-app.js A PORT\` (no plugin)`,
      `- B: \`taskset -c ${SERVER_CPU} node dist/test/bench/plugin-app.js B PORT TMPDIR\` (\`app.register(blackhole, { dir, sample: 1 })\`: default codec ${CODEC}, default redaction)`,
      `- C: \`taskset -c ${SERVER_CPU} node dist/test/bench/plugin-app.js C PORT TMPDIR\` (\`sample: ${SAMPLE_C}\`, otherwise the same)`,
      '',
      'Rounds alternate the order (A B C, B C A, C A B, ...). Per server: wait until it answers, a',
      `discarded ${args.warmup} s warm-up, the measured run, then SIGTERM (SIGKILL after 15 s; the app closes, which`,
      'seals the archive); for B and C, `blackhole verify` counts the records afterwards. Medians over',
      'the rounds with the min–max spread; ratios of the medians, with the spread of the same ratio within',
      'each round. "server CPU" is the server process\'s CPU time over the measured run\'s wall time.',
      '',
      ...wrkBenchCommandLines('plugin.js', args, URL_PATH),
      '',
      ...(OUT_NAME === 'dist' ? [] : [`This run was built into \`${OUT_NAME}/\` instead (\`npx tsc -p tsconfig.json --outDir ${OUT_NAME}\`, then \`node ${OUT_NAME}/test/bench/plugin.js --write-docs\`); the commands above say \`dist/\`, the normal build.`, '']),
      ...machineLines(machine),
      `- Code: ${code}`,
      `- ${args.rounds} rounds × 3 variants, ${args.warmup} s warm-up + ${args.duration} s measured each; whole run ${((Date.now() - started) / 1000).toFixed(0)} s; load average before the run ${load}, after ${os.loadavg().map(x => x.toFixed(2)).join(' ')}`,
      '',
      text
    ].join('\n')
    replaceDocSection(DOCS, 'plugin-bench', body)
    process.stderr.write(`updated ${DOCS}\n`)
  }
  const failed = measurements.filter(m => m.recording !== undefined && !m.recording.ok).length
  if (failed > 0) {
    process.stderr.write(`plugin bench: ${failed} recording check(s) failed\n`)
    process.exitCode = 1
  }
}

try {
  await main()
} catch (err) {
  process.stderr.write(`plugin bench: ${(err as Error).stack ?? String(err)}\n`)
  process.exitCode = 1
}
