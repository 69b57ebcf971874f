// Request-thread cost of recording (issue 8, goal 2): CPU time per request of every thread of the
// preset sink, at a fixed offered load well below saturation.
//
//   B  `blackhole serve --no-record`
//   C  `blackhole serve --out TMPDIR`, recording every request with the default codec
//
// Each round starts each server fresh on a free 127.0.0.1 port (B and C alternate: B C, C B, ...).
// The server is not pinned (compression may run on another core), unless --pin pins the whole
// process to CPU 0. autocannon, pinned to CPU 1, offers a fixed rate (-R) over 64 connections,
// POSTing post.lua's 100 distinct 2,048 B JSON documents in turn (a HAR file, `--har`) to /ingest:
// first a discarded warm-up, then the measured window. Right before and right after the window
// the harness reads utime + stime of every thread (/proc/PID/task/TID/stat, clock ticks) and its
// name (/proc/PID/task/TID/comm), and the process total (/proc/PID/stat, which also holds the
// threads that exited). CPU µs per request = ticks × 10^6 / CLK_TCK / 2xx answers in the window,
// for the main thread (tid == pid), each other thread name, and the whole process.
// After SIGTERM and exit, C's archive is counted with `blackhole verify --json`: it must hold every
// request answered (readiness probe + warm-up + window).
//
// Goal: C's main-thread µs/request ≤ 1.11 × B's.
//
// Usage (after `npm run build`):
//   node dist/test/bench/cpu.js [--pin] [--rounds 5] [--duration 20] [--warmup 3] [--rate 10000]
//                               [--connections 64] [--quiet-wait 120] [--cli PATH] [--write-docs]
//   --pin          pin the server to CPU 0 (every thread): the second mode of the goal
//   --quiet-wait S  before each server, wait at most S s for CPUs 0 and 1 to be under 15 % busy (0: don't)
//   --write-docs   rewrite this mode's part of the cpu-bench section of docs/benchmarks.md
//                  (SINK_BENCH_DOCS=FILE writes elsewhere)
// Linux only (taskset, /proc), at least 2 CPUs, autocannon (a dev dependency).
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { AUTOCANNON, autocannonProblems, autocannonVersion, parseAutocannon, type AutocannonResult } from './support/autocannon.js'
import { BENCHMARKS_DOC, commandLines, replaceDocParts } from './support/docs.js'
import { format3, formatBytes, formatInt, markdownTable, metCell, mib, pct, perRoundCell, summaryCells } from './support/format.js'
import { CLIENT_CPU, SERVER_CPU } from './support/layout.js'
import { codeVersion, machineInfo, machineLines, watchLoad } from './support/machine.js'
import { intOption, SINK_CLI_OPTIONS, sinkCliValues, type SinkCliValues } from './support/options.js'
import { postLuaBodies, writeBodiesHar } from './support/post-bodies.js'
import { installCleanup, makeTempDir, removeTempDir, sleep, start, stop, stopProblems, waitExit, type Stopped } from './support/processes.js'
import { clockTicks, coreBusy, coreTimes, memory, processTicks, threadTimes, threadWchan, waitQuiet, type ThreadTime } from './support/procfs.js'
import { freePort, serveArgs, serveCommandText, serverLines, sinkRequests, waitReady } from './support/server.js'
import { median, perRoundRatio, summarize, type Ratio, type Summary } from './support/statistics.js'
import { verifyArchiveJson, type ArchiveTotals } from './support/verify.js'

/** SINK_BENCH_DOCS redirects --write-docs to another file (to try the harness without touching the docs). */
const DOCS = process.env.SINK_BENCH_DOCS ?? BENCHMARKS_DOC

const URL_PATH = '/ingest'
const USER_AGENT = 'autocannon-cpu-bench/1'
const BODY_BYTES = 2048
const MAIN = 'main thread'
const EXITED = '(threads that exited in the window; per-thread rounding)'

type Kind = 'B' | 'C'
const LABEL: Record<Kind, string> = { B: 'B `--no-record`', C: 'C recording (`--out TMPDIR`, default codec)' }

// ---------------------------------------------------------------------------------------------
// Command line

interface Args extends SinkCliValues {
  pin: boolean
  rounds: number
  duration: number
  warmup: number
  rate: number
  connections: number
}

function parseCli (argv: string[]): Args {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      pin: { type: 'boolean', default: false },
      rounds: { type: 'string', default: '5' },
      duration: { type: 'string', default: '20' },
      warmup: { type: 'string', default: '3' },
      rate: { type: 'string', default: '10000' },
      connections: { type: 'string', default: '64' },
      ...SINK_CLI_OPTIONS
    }
  })
  const common = sinkCliValues(values, 'Usage: node dist/test/bench/cpu.js [--pin] [--rounds 5] [--duration 20] [--warmup 3] [--rate 10000] [--connections 64] [--quiet-wait 120] [--cli PATH] [--write-docs]')
  const int = (name: string, min: number): number => intOption(values, name, min)
  return {
    pin: values.pin === true,
    rounds: int('rounds', 1),
    duration: int('duration', 1),
    warmup: int('warmup', 0),
    rate: int('rate', 1),
    connections: int('connections', 1),
    ...common
  }
}

function commandText (a: Args): string {
  let s = 'node dist/test/bench/cpu.js'
  if (a.pin) s += ' --pin'
  if (a.rounds !== 5) s += ` --rounds ${a.rounds}`
  if (a.duration !== 20) s += ` --duration ${a.duration}`
  if (a.warmup !== 3) s += ` --warmup ${a.warmup}`
  if (a.rate !== 10000) s += ` --rate ${a.rate}`
  if (a.connections !== 64) s += ` --connections ${a.connections}`
  return s + ' --write-docs'
}

function serverArgs (kind: Kind, port: number, dir: string, a: Args): [string, string[]] {
  const args = serveArgs(a.cli, port, kind === 'B' ? ['--no-record'] : ['--out', dir])
  return a.pin ? ['taskset', ['-c', SERVER_CPU, process.execPath, ...args]] : [process.execPath, args]
}

function serverCommandText (kind: Kind, a: Args): string {
  const pin = a.pin ? `taskset -c ${SERVER_CPU} ` : ''
  return `${pin}${serveCommandText(kind === 'B' ? ['--no-record'] : ['--out', 'TMPDIR'])}`
}

function autocannonText (a: Args, seconds: number): string {
  return `taskset -c ${CLIENT_CPU} node node_modules/autocannon/autocannon.js -c ${a.connections} -R ${a.rate} -d ${seconds} --har BODIES.har --json http://127.0.0.1:PORT`
}

// ---------------------------------------------------------------------------------------------
// autocannon

interface LoadResult extends AutocannonResult {
  /** autocannon's CPU seconds, from /proc polled every 250 ms (the last quarter second is missing). */
  cpuSeconds: number
}

async function runAutocannon (port: number, har: string, a: Args, seconds: number): Promise<LoadResult> {
  const p = start('taskset', ['-c', CLIENT_CPU, process.execPath, AUTOCANNON, '-c', String(a.connections), '-R', String(a.rate),
    '-d', String(seconds), '--har', har, '--json', `http://127.0.0.1:${port}`])
  let ticks = 0
  const poll = (async () => {
    while (!p.done()) {
      try { ticks = processTicks(p.pid) } catch { /* exited */ }
      await sleep(250)
    }
  })()
  const exit = await waitExit(p, (seconds + 60) * 1000) ?? (await stop(p)).exit
  await poll
  if (exit.code !== 0) throw new Error(`autocannon exited with ${exit.signal ?? exit.code}:\n${p.output().slice(-2000)}`)
  return { ...parseAutocannon(p.output()), cpuSeconds: ticks / clockTicks() }
}

// ---------------------------------------------------------------------------------------------
// One server, measured once

interface Measurement {
  kind: Kind
  round: number
  load: LoadResult
  /** Wall seconds between the two /proc readings. */
  window: number
  /** CPU ticks in the window by thread group: MAIN, a comm name, or EXITED. */
  groups: Map<string, { threads: number, ticks: number }>
  /** Process total (from /proc/PID/stat) in the window, ticks. */
  processTicks: number
  /** CPU ticks in the window of each thread alive at the end, in tid (creation) order, the main thread first. */
  perThread: number[]
  /** Cross-check at nanosecond resolution (schedstat): the main thread, and every thread alive at the end; ns. */
  mainNs: number
  liveNs: number
  /** The sink's request counter (`/_blackhole/stats` sink.requests) over the window, or null. */
  sinkRequests: number | null
  peakRss: number
  /** Busy fraction of CPU 0 and CPU 1 over the window (every process). */
  core0: number
  core1: number
  stopMs: number
  recording?: { answered: number, totals: ArchiveTotals }
  warnings: string[]
}

const usPerReq = (ticks: number, requests: number): number => requests > 0 ? ticks / clockTicks() * 1e6 / requests : NaN
const mainUs = (m: Measurement): number => usPerReq(m.groups.get(MAIN)?.ticks ?? 0, m.load.ok2xx)
const totalUs = (m: Measurement): number => usPerReq(m.processTicks, m.load.ok2xx)
const otherUs = (m: Measurement): number => totalUs(m) - mainUs(m)

// Node 20 leaves its threads unnamed: every one has the process's comm ("node"). Those are told
// apart by where they sleep once the load has stopped: a thread with its own event loop waits in
// epoll (the platform's delayed-task scheduler, started before the V8 platform workers, and
// node:worker_threads, started later by JavaScript); the V8 platform workers, the libuv threadpool
// and the inspector's signal thread wait on a futex. Named threads (newer Node: "libuv-worker",
// "V8 DefaultWorke", ...) are grouped by name.
const SCHEDULER = 'unnamed, event loop, started first (Node platform delayed-task scheduler)'
const WORKERS = 'unnamed, event loop, started later (node:worker_threads)'
const POOLS = 'unnamed, futex-waiting (V8 platform workers, libuv threadpool)'
const V8POOL = 'unnamed, futex-waiting, started before the signal thread (V8 platform workers: GC, compiler)'
const UVPOOL = 'unnamed, futex-waiting, started after the signal thread (libuv threadpool)'
const SIGNAL = 'unnamed, every signal blocked (inspector signal thread)'
const OTHER = 'unnamed, other'

/** Reads the wchan of every thread a few times over half a second: true for those seen in epoll. */
async function eventLoopThreads (pid: number, tids: Iterable<number>): Promise<Map<number, string>> {
  const seen = new Map<number, string>()
  for (let i = 0; i < 5; i++) {
    for (const tid of tids) {
      const w = threadWchan(pid, tid)
      if (w.includes('epoll')) seen.set(tid, 'epoll')
      else if (!seen.has(tid) && w !== '') seen.set(tid, w)
    }
    await sleep(100)
  }
  return seen
}

/** True when the thread blocks (nearly) every signal: Node's SIGUSR1 watcher thread does. */
function blocksAllSignals (pid: number, tid: number): boolean {
  try {
    const m = /^SigBlk:\s*([0-9a-f]+)$/m.exec(readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8'))
    return m !== null && [...BigInt('0x' + m[1]).toString(2)].filter(c => c === '1').length >= 40
  } catch {
    return false
  }
}

function threadGroup (t: ThreadTime, pid: number, mainComm: string, wchan: Map<number, string>, firstFutex: number, signalTid: number | null): string {
  if (t.tid === pid) return MAIN
  if (t.comm !== mainComm) return t.comm
  const w = wchan.get(t.tid) ?? ''
  if (w === 'epoll') return t.tid < firstFutex ? SCHEDULER : WORKERS
  if (t.tid === signalTid) return SIGNAL
  if (!w.includes('futex')) return OTHER
  if (signalTid === null) return POOLS
  return t.tid < signalTid ? V8POOL : UVPOOL
}

function diffThreads (pid: number, before: Map<number, ThreadTime>, after: Map<number, ThreadTime>, total: number, wchan: Map<number, string>): Map<string, { threads: number, ticks: number }> {
  const groups = new Map<string, { threads: number, ticks: number }>()
  const mainComm = after.get(pid)?.comm ?? 'node'
  const futex = [...after.values()].filter(t => t.comm === mainComm && (wchan.get(t.tid) ?? '').includes('futex')).map(t => t.tid)
  const firstFutex = futex.length > 0 ? Math.min(...futex) : Infinity
  const signal = futex.filter(tid => blocksAllSignals(pid, tid))
  const signalTid = signal.length === 1 ? signal[0] : null
  let sum = 0
  for (const t of after.values()) {
    const d = t.ticks - (before.get(t.tid)?.ticks ?? 0)
    sum += d
    const name = threadGroup(t, pid, mainComm, wchan, firstFutex, signalTid)
    const g = groups.get(name) ?? { threads: 0, ticks: 0 }
    g.threads++
    g.ticks += d
    groups.set(name, g)
  }
  // Threads that exited in the window are only in the process total (the per-thread values are
  // rounded down to ticks separately, so a tick or two of difference is rounding).
  const exited = [...before.keys()].filter(tid => !after.has(tid)).length
  if (total - sum !== 0 || exited > 0) groups.set(EXITED, { threads: exited, ticks: total - sum })
  return groups
}

async function measure (kind: Kind, round: number, a: Args, bodies: readonly string[]): Promise<Measurement> {
  const warnings: string[] = []
  if (a.quietWait > 0) {
    const noisy = await waitQuiet([SERVER_CPU, CLIENT_CPU], a.quietWait * 1000)
    if (noisy !== null) warnings.push(noisy)
  }
  const port = await freePort()
  const work = makeTempDir('fbh-cpu-bench-')
  const dir = path.join(work, 'archive')
  const har = path.join(work, 'bodies.har')
  writeBodiesHar(har, `http://127.0.0.1:${port}${URL_PATH}`, bodies, USER_AGENT)
  try {
    const server = start(...serverArgs(kind, port, dir, a))
    let warm: LoadResult | null = null
    let load: LoadResult
    let window: number
    let groups: Map<string, { threads: number, ticks: number }>
    let wchan: Map<number, string>
    let perThread: number[]
    let mainNs: number
    let liveNs: number
    let total: number
    let served: number | null
    let peakRss: number
    let core0: number
    let core1: number
    let stopped: Stopped
    try {
      await waitReady(server, port)
      if (a.warmup > 0) warm = await runAutocannon(port, har, a, a.warmup)
      const n0 = await sinkRequests(port)
      const c0 = coreTimes()
      const t0 = performance.now()
      const th0 = threadTimes(server.pid)
      const p0 = processTicks(server.pid)
      load = await runAutocannon(port, har, a, a.duration)
      const th1 = threadTimes(server.pid)
      const p1 = processTicks(server.pid)
      window = (performance.now() - t0) / 1000
      const c1 = coreTimes()
      const n1 = await sinkRequests(port)
      total = p1 - p0
      wchan = await eventLoopThreads(server.pid, th1.keys())
      groups = diffThreads(server.pid, th0, th1, total, wchan)
      perThread = [...th1.values()].sort((x, y) => x.tid - y.tid).map(t => t.ticks - (th0.get(t.tid)?.ticks ?? 0))
      mainNs = (th1.get(server.pid)?.ns ?? NaN) - (th0.get(server.pid)?.ns ?? NaN)
      liveNs = [...th1.values()].reduce((sum, t) => sum + t.ns - (th0.get(t.tid)?.ns ?? 0), 0)
      served = n0 !== null && n1 !== null ? n1 - n0 : null
      core0 = coreBusy(c0, c1, SERVER_CPU)
      core1 = coreBusy(c0, c1, CLIENT_CPU)
      peakRss = memory(server.pid).hwm
    } finally {
      stopped = await stop(server)
    }
    warnings.push(...autocannonProblems(load))
    if (warm !== null) warnings.push(...autocannonProblems(warm).map(w => `warm-up: ${w}`))
    if (load.ok2xx < 0.95 * a.rate * load.seconds) warnings.push(`answered ${formatInt(load.ok2xx / load.seconds)} req/s of the ${formatInt(a.rate)} offered: the load was not below saturation`)
    if (served !== null && (served < load.ok2xx || served > load.ok2xx + a.connections)) warnings.push(`the sink counted ${formatInt(served)} requests in the window, autocannon ${formatInt(load.ok2xx)} 2xx`)
    for (const l of serverLines(server.output(), /^blackhole: /)) warnings.push(`server: ${l}`)
    warnings.push(...stopProblems(stopped))
    const m: Measurement = { kind, round, load, window, groups, perThread, mainNs, liveNs, processTicks: total, sinkRequests: served, peakRss, core0, core1, stopMs: stopped.ms, warnings }
    if (kind === 'C') {
      const answered = 1 + (warm?.ok2xx ?? 0) + load.ok2xx
      const totals = await verifyArchiveJson(a.cli, dir)
      m.recording = { answered, totals }
      if (!totals.ok) warnings.push(`verify failed: ${totals.problems.slice(0, 3).join('; ')}`)
      if (totals.records < answered) warnings.push(`archive holds ${totals.records} records, fewer than the ${answered} requests answered`)
    }
    return m
  } finally {
    removeTempDir(work)
  }
}

// ---------------------------------------------------------------------------------------------
// Report

function report (ms: Measurement[]): { text: string, ratios: Ratio[] } {
  const by = (k: Kind): Measurement[] => ms.filter(m => m.kind === k)
  const kinds: Kind[] = ['B', 'C']
  const us = (v: number): string => v.toFixed(1)
  const cells = (xs: number[]): [string, string] => summaryCells(summarize(xs), us)
  const summaryRows = kinds.map(k => {
    const xs = by(k)
    return [
      LABEL[k],
      formatInt(median(xs.map(m => m.load.ok2xx / m.load.seconds))),
      ...cells(xs.map(mainUs)),
      ...cells(xs.map(otherUs)),
      ...cells(xs.map(totalUs)),
      pct(median(xs.map(m => (m.groups.get(MAIN)?.ticks ?? 0) / clockTicks() / m.window))),
      format3(median(xs.map(m => m.processTicks / clockTicks() / m.window))),
      format3(median(xs.map(m => m.load.p99Ms))),
      mib(median(xs.map(m => m.peakRss)))
    ]
  })
  const summaryTable = markdownTable(
    ['Server', 'answered req/s', 'main thread µs/req', 'min–max', 'other threads µs/req', 'min–max', 'total µs/req', 'min–max', 'main thread busy', 'process CPU (cores)', 'p99 ms', 'peak RSS MiB'],
    summaryRows, ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'])

  const threadRows: string[][] = []
  for (const k of kinds) {
    const xs = by(k)
    const names = [...new Set(xs.flatMap(m => [...m.groups.keys()]))]
    names.sort((x, y) => (x === MAIN ? -1 : y === MAIN ? 1 : x === EXITED ? 1 : y === EXITED ? -1 : x.localeCompare(y)))
    for (const n of names) {
      const vals = xs.map(m => usPerReq(m.groups.get(n)?.ticks ?? 0, m.load.ok2xx))
      const threads = xs.map(m => m.groups.get(n)?.threads ?? 0)
      const share = median(xs.map(m => m.processTicks > 0 ? (m.groups.get(n)?.ticks ?? 0) / m.processTicks : 0))
      threadRows.push([k, n === MAIN || n === EXITED || n.startsWith('unnamed') ? n : `\`${n}\``, threads.every(t => t === threads[0]) ? String(threads[0]) : `${Math.min(...threads)}–${Math.max(...threads)}`, ...cells(vals), pct(share)])
    }
  }
  const threadTable = markdownTable(['Server', 'thread (comm)', 'threads', 'µs/req (median)', 'min–max', 'share of process CPU'], threadRows, ['l', 'l', 'r', 'r', 'r', 'r'])

  const paired = (f: (m: Measurement) => number): Summary | null => perRoundRatio(by('C'), by('B'), f)
  const mainRatio = median(by('C').map(mainUs)) / median(by('B').map(mainUs))
  const totalRatio = median(by('C').map(totalUs)) / median(by('B').map(totalUs))
  const mainPaired = paired(mainUs)
  // The machine's speed drifts over minutes, and B and C of a round run next to each other:
  // the median of the per-round ratios is the steadier figure. The goal must hold for both.
  const ratios: Ratio[] = [
    { name: 'C/B main thread µs/request', value: mainRatio, perRound: mainPaired, goal: '≤ 1.11', met: mainRatio <= 1.11 && (mainPaired === null || mainPaired.median <= 1.11) },
    { name: 'C/B total (every thread) µs/request', value: totalRatio, perRound: paired(totalUs), goal: '—', met: null }
  ]
  const ratioTable = markdownTable(['Ratio', 'of the medians', 'per round: median', 'min–max', 'goal', 'met'],
    ratios.map(r => [r.name, r.value.toFixed(3), r.perRound === null ? 'n/a' : r.perRound.median.toFixed(3), perRoundCell(r.perRound), r.goal, metCell(r.met)]),
    ['l', 'r', 'r', 'r', 'l', 'l'])

  const recRows = by('C').filter(m => m.recording !== undefined).map(m => {
    const r = m.recording as { answered: number, totals: ArchiveTotals }
    return [String(m.round + 1), formatInt(r.answered), formatInt(r.totals.records), r.totals.ok && r.totals.records >= r.answered ? 'yes' : '**no**',
      String(r.totals.files), formatBytes(r.totals.fileBytes), r.totals.fileBytes > 0 ? (r.totals.streamBytes / r.totals.fileBytes).toFixed(2) : 'n/a', (m.stopMs / 1000).toFixed(2)]
  })
  const recTable = markdownTable(['C round', 'requests answered', 'records verified', 'all recorded', 'files', 'on disk', 'compression', 'SIGTERM to exit s'], recRows, ['r', 'r', 'r', 'l', 'r', 'r', 'r', 'r'])

  const nsUs = (ns: number, n: number): string => Number.isFinite(ns) && n > 0 ? us(ns / 1000 / n) : 'n/a'
  const perRound = markdownTable(['round', 'server', '2xx in window', 'window s', 'main µs/req', 'main µs/req (schedstat)', 'total µs/req', 'live threads µs/req (schedstat)', 'process ticks', 'ticks per thread (tid order)', 'sink counted', 'CPU 0 busy', 'CPU 1 busy', 'autocannon CPU'],
    ms.map(m => [String(m.round + 1), m.kind, formatInt(m.load.ok2xx), m.window.toFixed(2), us(mainUs(m)), nsUs(m.mainNs, m.load.ok2xx), us(totalUs(m)), nsUs(m.liveNs, m.load.ok2xx), String(m.processTicks), m.perThread.join(' '),
      m.sinkRequests === null ? 'n/a' : formatInt(m.sinkRequests), pct(m.core0), pct(m.core1), pct(m.load.cpuSeconds / m.load.seconds)]),
    ['r', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'l', 'r', 'r', 'r', 'r'])

  const text = [
    summaryTable,
    '**CPU by thread** (grouped by thread name; the main thread is the one whose tid is the pid):',
    '',
    threadTable,
    '**Ratios** (goal from issue 8):',
    '',
    ratioTable,
    '**Recording check** (C: `blackhole verify --json` on the archive after SIGTERM; requests answered = readiness probe + warm-up + window):',
    '',
    recTable,
    '**Per run:**',
    '',
    perRound
  ].join('\n')
  return { text, ratios }
}

// ---------------------------------------------------------------------------------------------

const SECTION = 'cpu-bench'
const PARTS = ['cpu-bench-unpinned', 'cpu-bench-pinned']

function docsHead (): string {
  return [
    '### Request-thread cost (`test/bench/cpu.ts`)',
    '',
    'CPU time per request of each thread of the preset sink at a fixed offered load well below',
    'saturation (issue 8, goal 2). Two servers, each started fresh on a free 127.0.0.1 port, B and C',
    'alternating across rounds: B `blackhole serve --no-record`, C `blackhole serve --out TMPDIR`',
    '(recording every request with the default codec). autocannon, pinned to CPU 1, offers a fixed',
    'rate over keep-alive connections, POSTing the 100 distinct 2,048 B JSON documents of',
    '`test/bench/post.lua` in turn (from a HAR file) to `/ingest`: a discarded warm-up, then the',
    'measured window. Right before and right after the window, utime + stime of every thread is read',
    'from `/proc/PID/task/TID/stat` (its name from `.../comm`) and of the whole process from',
    '`/proc/PID/stat` (which keeps the time of threads that exited). µs/request = CPU time / 2xx',
    'answers in the window. The main thread is the one whose tid is the pid (the JavaScript thread);',
    'the others are grouped by name, and Node 20\'s unnamed threads (all called `node`) by where they',
    'sleep once the load has stopped (`/proc/PID/task/TID/wchan`): in epoll (an event loop: the',
    'platform\'s delayed-task scheduler, started first, or `node:worker_threads`, started later) or on',
    'a futex (V8 platform workers, started at start-up before the inspector\'s signal thread, which',
    'blocks every signal; the libuv threadpool, started after it on first use). The per-run table lists',
    'every thread\'s ticks in creation order, and, as a cross-check at nanosecond resolution, the same',
    'per-request costs from `/proc/PID/task/TID/schedstat` (time on a CPU; threads alive at the end only).',
    'The other figures are from the ticks. Goal: C\'s main-thread µs/request ≤ 1.11 × B\'s, which means',
    '≥ 0.90 of no-record throughput wherever the rest of the work runs on another core. It is held to',
    'both the ratio of the medians and the median of the per-round ratios (B and C of a round run next',
    'to each other, so the second is the steadier one while the machine\'s speed drifts).',
    '',
    '- Unpinned: the server may use both cores (compression or writing on another thread can run',
    '  beside the request thread; it shares CPU 1 with autocannon).',
    '- Pinned (`--pin`): the whole server process on CPU 0.'
  ].join('\n')
}

async function main (): Promise<void> {
  const a = parseCli(process.argv.slice(2))
  for (const f of [a.cli, AUTOCANNON]) if (!existsSync(f)) throw new Error(`missing ${f} (build first: npm run build; npm install for autocannon)`)
  if (os.cpus().length < 2) throw new Error('needs at least 2 CPUs (autocannon on CPU 1)')
  try {
    execFileSync('taskset', ['-c', CLIENT_CPU, 'true'])
  } catch {
    throw new Error('taskset (util-linux) is required')
  }
  installCleanup('cpu bench')
  const bodies = postLuaBodies(100, BODY_BYTES)
  const machine = machineInfo()
  const code = codeVersion()
  const loadLine = watchLoad()
  process.stderr.write(`cpu bench (${a.pin ? 'server pinned to CPU 0' : 'server unpinned'}): ${a.rounds} rounds × B C, autocannon -R ${a.rate} -c ${a.connections}, warm-up ${a.warmup} s, window ${a.duration} s; CLK_TCK ${clockTicks()}; load average ${os.loadavg().map(x => x.toFixed(2)).join(' ')}\n`)
  const ms: Measurement[] = []
  for (let r = 0; r < a.rounds; r++) {
    const order: Kind[] = r % 2 === 0 ? ['B', 'C'] : ['C', 'B']
    for (const k of order) {
      const m = await measure(k, r, a, bodies)
      ms.push(m)
      const groups = [...m.groups].filter(([n]) => n !== MAIN).map(([n, g]) => `${n}×${g.threads} ${usPerReq(g.ticks, m.load.ok2xx).toFixed(1)}`).join(', ')
      const rec = m.recording === undefined ? '' : `; records ${formatInt(m.recording.totals.records)} ≥ answered ${formatInt(m.recording.answered)}: ${m.recording.totals.records >= m.recording.answered && m.recording.totals.ok ? 'yes' : 'NO'}`
      process.stderr.write(`round ${r + 1} ${k}: ${formatInt(m.load.ok2xx)} 2xx in ${m.load.seconds.toFixed(1)} s (${formatInt(m.load.ok2xx / m.load.seconds)} req/s); main ${mainUs(m).toFixed(1)} µs/req, total ${totalUs(m).toFixed(1)} µs/req (process ${m.processTicks} ticks); others: ${groups}${rec}\n`)
      for (const w of m.warnings) process.stderr.write(`  warning: ${w}\n`)
    }
  }
  const rep = report(ms)
  const load = loadLine()
  process.stdout.write(`\n${rep.text}\n`)
  const ticksPerRun = median(ms.map(m => m.groups.get(MAIN)?.ticks ?? 0))
  const body = [
    `#### ${a.pin ? 'Pinned: the whole server on CPU 0' : 'Unpinned server'}`,
    '',
    ...commandLines(commandText(a)),
    '',
    `- B: \`${serverCommandText('B', a)}\``,
    `- C: \`${serverCommandText('C', a)}\``,
    `- Load (warm-up with \`-d ${a.warmup}\`, then the window): \`${autocannonText(a, a.duration)}\` (autocannon ${autocannonVersion()})`,
    ...machineLines(machine),
    `- Code: ${code}`,
    load,
    `- ${a.rounds} rounds × 2 servers (order B C, then C B, ...); medians and min–max over rounds. CPU times are in clock ticks of 1/${clockTicks()} s: a window of ${a.duration} s at ${formatInt(a.rate)} req/s gives the main thread about ${formatInt(ticksPerRun)} ticks (median), so one tick is ${(100 / Math.max(1, ticksPerRun)).toFixed(2)} % of it; small threads are measured to ±1 tick (${(1e6 / clockTicks() / Math.max(1, a.rate * a.duration)).toFixed(3)} µs/request)`,
    `- Goal: C/B main-thread µs/request ≤ 1.11, as the ratio of the medians and as the median of the per-round ratios: **${rep.ratios[0].met === true ? 'met' : 'not met'}** (${rep.ratios[0].value.toFixed(3)}; ${rep.ratios[0].perRound?.median.toFixed(3) ?? 'n/a'})`,
    '',
    rep.text,
    ...ms.flatMap(m => m.warnings.map(w => `- round ${m.round + 1} ${m.kind}: ${w}`))
  ].join('\n')
  if (a.writeDocs) {
    const part = a.pin ? PARTS[1] : PARTS[0]
    replaceDocParts(DOCS, SECTION, docsHead(), PARTS.map(p => [p, p === part ? body : null]))
    process.stderr.write(`updated ${DOCS}\n`)
  }
}

try {
  await main()
} catch (err) {
  process.stderr.write(`cpu bench: ${(err as Error).stack ?? String(err)}\n`)
  process.exitCode = 1
}
