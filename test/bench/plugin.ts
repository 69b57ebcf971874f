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
import {
  codeVersion, coreBusy, coreTimes, format3, formatInt, freePort, httpGet, installCleanup, machineInfo,
  machineLines, makeTempDir, markdownTable, memory, mib, pct, processCpu, removeTempDir, replaceDocSection,
  runWrk, start, stop, STOP_TIMEOUT_MS, summarize, summaryCells, verifyArchive, waitQuiet, waitReady,
  wrkArgs, wrkBenchCommand, wrkBenchPreflight, parseWrkBenchCli, type WrkBenchCli, wrkProblems, type Summary, type WrkResult,
  BENCH_DIR as HERE, OUT_ROOT, REPO, CLI, POST_LUA, SERVER_CPU, WRK_CPU, CONNECTIONS
} from './stats.js'

const APP = path.join(HERE, 'plugin-app.js')
/** PLUGIN_BENCH_DOCS redirects --write-docs to another file. */
const DOCS = process.env.PLUGIN_BENCH_DOCS ?? path.join(REPO, 'docs/benchmarks.md')

const URL_PATH = '/orders'
const READY_TIMEOUT_MS = 30_000
/** A run during which other processes took more than this of CPU 0 or 1 is measured again. */
const DISTURBED = 0.10
const SAMPLE_C = 0.05

type Kind = 'A' | 'B' | 'C'
const KINDS: readonly Kind[] = ['A', 'B', 'C']
// The codec 'auto' picks on this machine (what the servers under test use).
const CODEC = readCodec().name
const LABEL: Record<Kind, string> = {
  A: 'A app without the plugin',
  B: 'B plugin, sample 1',
  C: `C plugin, sample ${SAMPLE_C}`
}

type Args = WrkBenchCli

installCleanup('plugin bench')

const wrk = async (port: number, seconds: number): Promise<WrkResult> =>
  await runWrk(wrkArgs({ cpu: WRK_CPU, connections: CONNECTIONS, seconds, script: POST_LUA, url: `http://127.0.0.1:${port}${URL_PATH}` }))

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

interface Measurement {
  kind: Kind
  round: number
  warm: WrkResult | null
  main: WrkResult
  peakRss: number
  serverCpu: number
  core0: number
  core1: number
  stopMs: number
  warnings: string[]
  recording?: RecordingCheck
}

/** Busy time of CPUs 0 and 1 not spent by the server or wrk (the larger of the two), 0 to 1. */
function disturbance (m: Measurement): number {
  const wrkCpu = Number.isFinite(m.main.cpuSeconds) ? m.main.cpuSeconds / m.main.seconds : 0
  return Math.max(m.core0 - m.serverCpu, m.core1 - wrkCpu)
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
  const noisy = await waitQuiet([SERVER_CPU, WRK_CPU])
  const port = await freePort()
  const dir = kind === 'A' ? null : makeTempDir('fbh-plugin-bench-')
  try {
    const server = start('taskset', ['-c', SERVER_CPU, process.execPath, APP, kind, String(port), ...(dir === null ? [] : [dir])])
    let warm: WrkResult | null = null
    let main: WrkResult
    let peakRss: number
    let serverCpu: number
    let core0: number
    let core1: number
    let stats: BlackholeStats | null = null
    let stopped: Awaited<ReturnType<typeof stop>>
    try {
      await waitReady(server, port, '/bench-ready', READY_TIMEOUT_MS)
      if (args.warmup > 0) warm = await wrk(port, args.warmup)
      const c0 = coreTimes()
      const s0 = processCpu(server.pid)
      const t0 = performance.now()
      main = await wrk(port, args.duration)
      const wall = (performance.now() - t0) / 1000
      serverCpu = (processCpu(server.pid) - s0) / wall
      const c1 = coreTimes()
      core0 = coreBusy(c0, c1, SERVER_CPU)
      core1 = coreBusy(c0, c1, WRK_CPU)
      if (kind !== 'A') stats = await pluginStats(port)
      peakRss = memory(server.pid).hwm
    } finally {
      stopped = await stop(server, STOP_TIMEOUT_MS)
    }
    const warnings = [...wrkProblems(main)]
    const extra = server.output().split('\n').filter(l => l.trim() !== '' && !l.startsWith('plugin-app: variant ')).slice(0, 5)
    warnings.push(...extra)
    if (noisy !== null) warnings.push(noisy)
    if (stopped.killed) warnings.push(`did not exit within ${STOP_TIMEOUT_MS / 1000} s of SIGTERM: killed`)
    else if (stopped.exit.code !== 0) warnings.push(`exit ${stopped.exit.signal ?? stopped.exit.code} after SIGTERM`)
    const m: Measurement = { kind, round, warm, main, peakRss, serverCpu, core0, core1, stopMs: stopped.ms, warnings }
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

interface Ratio { name: string, value: number, perRound: Summary | null, goal: string, met: boolean | null }

function report (ms: Measurement[], args: Args): { text: string, ratios: Ratio[] } {
  const by = (k: Kind): Measurement[] => ms.filter(m => m.kind === k)
  // Disturbed runs (kept only when every attempt was disturbed) stay out of the figures, as long
  // as the variant has at least one clean run.
  const clean = (m: Measurement): boolean => disturbance(m) <= DISTURBED
  const used = (k: Kind): Measurement[] => by(k).some(clean) ? by(k).filter(clean) : by(k)
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

  const rounds = [...new Set(ms.map(m => m.round))]
  const paired = (num: Kind, den: Kind, f: (m: Measurement) => number): Summary | null => {
    const v = rounds.map(r => {
      const a = used(num).find(m => m.round === r)
      const b = used(den).find(m => m.round === r)
      return a !== undefined && b !== undefined ? f(a) / f(b) : NaN
    }).filter(Number.isFinite)
    return v.length > 0 ? summarize(v) : null
  }
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
  const ratioTable = markdownTable(['Ratio', 'of the medians', 'per round min–max', 'goal', 'met'],
    ratios.map(r => [r.name, r.value.toFixed(3),
      r.perRound === null ? 'n/a' : `${r.perRound.min.toFixed(3)}–${r.perRound.max.toFixed(3)} (${r.perRound.n} round${r.perRound.n === 1 ? '' : 's'})`,
      r.goal, r.met === null ? '' : r.met ? 'yes' : '**no**']),
    ['l', 'r', 'r', 'l', 'l'])

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
  const foreign0 = Math.max(...kept.map(m => m.core0 - m.serverCpu))
  const foreign1 = Math.max(...kept.map(m => m.core1 - (Number.isFinite(m.main.cpuSeconds) ? m.main.cpuSeconds / m.main.seconds : 0)))
  if (ms.length > kept.length) notes.push(`${ms.length - kept.length} disturbed run(s) left out of the figures`)
  notes.push(`In the runs used, CPU 0 was busy beyond the server's own CPU time at most ${pct(foreign0)}, CPU 1 beyond wrk's at most ${pct(foreign1)} (wrk CPU median ${pct(summarize(kept.map(m => m.main.cpuSeconds / m.main.seconds)).median)})`)
  for (const m of ms) for (const w of m.warnings) notes.push(`round ${m.round + 1} ${m.kind}: ${w}`)
  const text = [
    table,
    '**Ratios** (goals from issue 3: at sample 1 the app keeps at least 85 % of its throughput, at sample 0.05 at least 98 %):',
    '',
    ratioTable,
    `**Recording check** (\`blackhole verify\` on the archive after SIGTERM; requests answered = readiness probe + warm-up + measured run, as counted by wrk; B must hold at least that many records, C ${pct(SAMPLE_C)} of them ± 5 standard deviations; "plugin: recorded" and "dropped" from \`app.archive.stats()\` just before SIGTERM):`,
    '',
    recTable,
    ...notes.map(n => `- ${n}`)
  ].join('\n')
  return { text, ratios }
}

function wrkCommand (seconds: number): string {
  return `taskset -c ${WRK_CPU} wrk -t1 -c${CONNECTIONS} -d${seconds}s --latency -s test/bench/post.lua http://127.0.0.1:PORT${URL_PATH}`
}

async function main (): Promise<void> {
  const args = parseWrkBenchCli(process.argv.slice(2), 'plugin.js')
  wrkBenchPreflight([CLI, APP, POST_LUA])
  const machine = machineInfo()
  const code = codeVersion(REPO)
  const started = Date.now()
  const load = os.loadavg().map(x => x.toFixed(2)).join(' ')
  process.stderr.write(`plugin bench: ${args.rounds} rounds × A B C, warm-up ${args.warmup} s, run ${args.duration} s; load average ${load}\n`)

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
      const rec = m.recording === undefined ? '' : `, records ${formatInt(m.recording.records)} for ${formatInt(m.recording.answered)} answered: ${m.recording.ok ? 'ok' : 'NOT OK'}`
      process.stderr.write(`round ${r + 1} ${k}: ${formatInt(m.main.rps)} req/s, p99 ${format3(m.main.p99Ms)} ms, server CPU ${pct(m.serverCpu)}, core0 ${pct(m.core0)}, core1 ${pct(m.core1)}${rec}\n`)
      for (const w of m.warnings) process.stderr.write(`  warning: ${w}\n`)
    }
  }
  const rep = report(measurements, args)
  process.stdout.write(`\n${rep.text}\n`)
  if (args.writeDocs) {
    const buildDir = path.basename(OUT_ROOT)
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
      'Commands:',
      '',
      '```sh',
      'npm run build',
      wrkBenchCommand('plugin.js', args),
      '```',
      '',
      'wrk, for each server (warm-up with the same command and `-d' + String(args.warmup) + 's`):',
      '',
      '```sh',
      wrkCommand(args.duration),
      '```',
      '',
      ...(buildDir === 'dist' ? [] : [`This run was built into \`${buildDir}/\` instead (\`npx tsc -p tsconfig.json --outDir ${buildDir}\`, then \`node ${buildDir}/test/bench/plugin.js --write-docs\`); the commands above say \`dist/\`, the normal build.`, '']),
      ...machineLines(machine),
      `- Code: ${code}`,
      `- ${args.rounds} rounds × 3 variants, ${args.warmup} s warm-up + ${args.duration} s measured each; whole run ${((Date.now() - started) / 1000).toFixed(0)} s; load average before the run ${load}, after ${os.loadavg().map(x => x.toFixed(2)).join(' ')}`,
      '',
      rep.text
    ].join('\n')
    replaceDocSection(DOCS, 'plugin-bench', body, '# Benchmarks\n')
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
