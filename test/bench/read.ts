// Read side (issue 8, goal 5): `blackhole verify` and `blackhole dump --json` over a recorded
// archive, against the rate at which the sink recorded it.
//
// Unless --archive DIR is given, the archive is recorded first, the way the sink benchmark's C
// server records: `blackhole serve --out DIR` pinned to CPU 0, wrk pinned to CPU 1 with 64
// connections POSTing post.lua's 2,048 B JSON documents, a discarded warm-up, then wrk until the
// sink has answered --requests requests (polled on /_blackhole/stats; wrk gets SIGINT). The
// recording rate is that run's requests / s. With --archive, a separate --record-seconds run of the
// same sink into a temp dir measures the recording rate (its archive is discarded).
//
// Then one unmeasured `verify --json` (counts records and bytes, warms the page cache) and
// --rounds rounds, alternating the order, of
//   taskset -c 0 node CLI verify DIR                   (stdout collected: one line per file)
//   taskset -c 0 node CLI dump --json DIR > /dev/null
// timed from spawn to exit (Node's start-up, ~0.05 s, included). records/s = records / s;
// MB/s = 10^6 bytes per second of the decompressed record stream and of the files on disk.
// Goal: both ≥ 3 × the recording rate in records/s.
//
// Usage (after `npm run build`):
//   node dist/test/bench/read.js [--requests 2000000] [--archive DIR] [--rounds 3] [--warmup 3]
//                                [--record-seconds 10] [--dir DIR] [--keep] [--quiet-wait 120]
//                                [--cli PATH] [--write-docs]
//   --dir DIR     record into DIR (must not exist or be empty) instead of a temp dir; --keep keeps it
//   --write-docs  rewrite the read-bench section of docs/benchmarks.md (SINK_BENCH_DOCS=FILE writes elsewhere)
// Linux only (taskset, /proc), at least 2 CPUs, wrk on PATH.
import { openSync, closeSync, existsSync, mkdirSync, readdirSync } from 'node:fs'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { BENCHMARKS_DOC, commandLines, replaceDocSection } from './support/docs.js'
import { formatBytes, formatInt, format3, markdownTable, summaryCells } from './support/format.js'
import { POST_LUA, SERVER_CPU, CLIENT_CPU } from './support/layout.js'
import { codeVersion, machineInfo, machineLines, watchLoad } from './support/machine.js'
import { intOption, SINK_CLI_OPTIONS, sinkCliValues, type SinkCliValues } from './support/options.js'
import { installCleanup, makeTempDir, removeTempDir, run, sleep, start, stop, stopProblems, type Stopped } from './support/processes.js'
import { waitQuiet } from './support/procfs.js'
import { freePort, serveArgs, serveCommandText, sinkRequests, waitReady } from './support/server.js'
import { median, summarize } from './support/statistics.js'
import { verifyArchiveJson, type ArchiveTotals } from './support/verify.js'
import { runWrk, wrkCommandText, type WrkResult } from './support/wrk.js'
import { wrkBenchPreflight } from './support/wrk-bench.js'

/** SINK_BENCH_DOCS redirects --write-docs to another file (to try the harness without touching the docs). */
const DOCS = process.env.SINK_BENCH_DOCS ?? BENCHMARKS_DOC

const READ_CPU = '0'
const URL_PATH = '/ingest'
const MAX_RECORD_SECONDS = 1800
const READ_TIMEOUT_MS = 1_800_000
const GOAL = 3

interface Args extends SinkCliValues {
  requests: number
  archive: string | null
  rounds: number
  warmup: number
  recordSeconds: number
  dir: string | null
  keep: boolean
}

function parseCli (argv: string[]): Args {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      requests: { type: 'string', default: '2000000' },
      archive: { type: 'string' },
      rounds: { type: 'string', default: '3' },
      warmup: { type: 'string', default: '3' },
      'record-seconds': { type: 'string', default: '10' },
      dir: { type: 'string' },
      keep: { type: 'boolean', default: false },
      ...SINK_CLI_OPTIONS
    }
  })
  const common = sinkCliValues(values, 'Usage: node dist/test/bench/read.js [--requests 2000000] [--archive DIR] [--rounds 3] [--warmup 3] [--record-seconds 10] [--dir DIR] [--keep] [--quiet-wait 120] [--cli PATH] [--write-docs]')
  const int = (name: string, min: number): number => intOption(values, name, min)
  return {
    requests: int('requests', 1000),
    archive: values.archive === undefined ? null : path.resolve(values.archive),
    rounds: int('rounds', 1),
    warmup: int('warmup', 0),
    recordSeconds: int('record-seconds', 0),
    dir: values.dir === undefined ? null : path.resolve(values.dir),
    keep: values.keep === true,
    ...common
  }
}

function commandText (a: Args): string {
  let s = 'node dist/test/bench/read.js'
  if (a.archive !== null) s += ' --archive DIR'
  else if (a.requests !== 2_000_000) s += ` --requests ${a.requests}`
  if (a.rounds !== 3) s += ` --rounds ${a.rounds}`
  if (a.warmup !== 3) s += ` --warmup ${a.warmup}`
  if (a.archive !== null && a.recordSeconds !== 10) s += ` --record-seconds ${a.recordSeconds}`
  return s + ' --write-docs'
}

// ---------------------------------------------------------------------------------------------
// Recording

interface Recording {
  warm: WrkResult | null
  main: WrkResult
  /** Requests the sink answered (its counter, probe and warm-up included). */
  answered: number
  /** main.requests / main.seconds: the recording rate. */
  rate: number
  stopMs: number
  warnings: string[]
}

/** Records into `dir` until the sink answered `target` requests, or for `seconds` when target is 0. */
async function record (a: Args, dir: string, target: number, seconds: number): Promise<Recording> {
  const warnings: string[] = []
  if (a.quietWait > 0) {
    const noisy = await waitQuiet([SERVER_CPU, CLIENT_CPU], a.quietWait * 1000)
    if (noisy !== null) warnings.push(noisy)
  }
  const port = await freePort()
  const server = start('taskset', ['-c', SERVER_CPU, process.execPath, ...serveArgs(a.cli, port, ['--out', dir])])
  let warm: WrkResult | null = null
  let main: WrkResult
  let answered = 0
  let stopped: Stopped
  try {
    await waitReady(server, port)
    if (a.warmup > 0) warm = await runWrk(port, URL_PATH, a.warmup)
    // Long enough for the target at 5,000 req/s, bounded; the poller interrupts wrk at the target.
    const duration = target > 0 ? Math.min(MAX_RECORD_SECONDS, Math.ceil(target / 5000) + 10) : seconds
    if (target > 0) process.stderr.write(`recording: wrk -d${duration}s, stopped at ${formatInt(target)} requests\n`)
    const t0 = performance.now()
    let lastProgress = 0
    main = await runWrk(port, URL_PATH, duration, target === 0
      ? undefined
      : async (interrupt, finished) => {
        for (;;) {
          await sleep(250)
          if (finished()) return
          if (server.done()) { interrupt(); return }
          const n = await sinkRequests(port)
          const el = performance.now() - t0
          if (el - lastProgress >= 30_000) {
            lastProgress = el
            process.stderr.write(`  ${(el / 1000).toFixed(0)} s: ${n === null ? 'n/a' : formatInt(n)} requests\n`)
          }
          if (n !== null && n >= target) { interrupt(); return }
        }
      })
    answered = await sinkRequests(port) ?? 1 + (warm?.requests ?? 0) + main.requests
  } finally {
    stopped = await stop(server)
  }
  if (main.errors.connect + main.errors.read + main.errors.write + main.errors.timeout > 0) warnings.push(`wrk socket errors: ${JSON.stringify(main.errors)}`)
  warnings.push(...stopProblems(stopped))
  if (target > 0 && answered < target) warnings.push(`only ${formatInt(answered)} of ${formatInt(target)} requests within ${MAX_RECORD_SECONDS} s`)
  return { warm, main, answered, rate: main.requests / main.seconds, stopMs: stopped.ms, warnings }
}

// ---------------------------------------------------------------------------------------------
// Reading

type Reader = 'verify' | 'dump'
const READERS: readonly Reader[] = ['verify', 'dump']

function readerArgs (r: Reader, cli: string, dir: string): string[] {
  return r === 'verify' ? [cli, 'verify', dir] : [cli, 'dump', '--json', dir]
}

function readerText (r: Reader): string {
  return r === 'verify' ? `taskset -c ${READ_CPU} node dist/preset/cli.js verify DIR` : `taskset -c ${READ_CPU} node dist/preset/cli.js dump --json DIR > /dev/null`
}

/** Runs one reader pinned to READ_CPU; stdout to /dev/null for dump. Returns its wall seconds. */
async function timeReader (r: Reader, cli: string, dir: string): Promise<{ seconds: number, records: number | null }> {
  const devnull = openSync('/dev/null', 'w')
  try {
    const { stdout, stderr, exit, ms } = await run('taskset', ['-c', READ_CPU, process.execPath, ...readerArgs(r, cli, dir)], { timeoutMs: READ_TIMEOUT_MS, stdout: r === 'dump' ? devnull : undefined })
    if (exit.code !== 0) throw new Error(`${r} exited with ${exit.signal ?? exit.code}:\n${stderr.slice(-4000)}${stdout.slice(-2000)}`)
    let records: number | null = null
    if (r === 'verify') {
      records = 0
      for (const m of stdout.matchAll(/ records=(\d+)/g)) records += Number(m[1])
    }
    return { seconds: ms / 1000, records }
  } finally {
    closeSync(devnull)
  }
}

// ---------------------------------------------------------------------------------------------

async function main (): Promise<void> {
  const a = parseCli(process.argv.slice(2))
  wrkBenchPreflight([a.cli, POST_LUA])
  installCleanup('read bench')
  const machine = machineInfo()
  const code = codeVersion()
  const loadLine = watchLoad()
  const warnings: string[] = []

  // The archive, and the recording rate.
  let dir: string
  let tempRoot: string | null = null
  let rec: Recording | null = null
  let rateRun: Recording | null = null
  try {
    if (a.archive !== null) {
      dir = a.archive
      if (!existsSync(dir)) throw new Error(`--archive ${dir}: no such directory`)
      if (a.recordSeconds > 0) {
        const tmp = makeTempDir('fbh-read-bench-rate-')
        try {
          process.stderr.write(`measuring the recording rate: ${a.recordSeconds} s\n`)
          rateRun = await record(a, path.join(tmp, 'archive'), 0, a.recordSeconds)
        } finally {
          removeTempDir(tmp)
        }
      }
    } else {
      if (a.dir !== null) {
        if (existsSync(a.dir) && readdirSync(a.dir).length > 0) throw new Error(`--dir ${a.dir} is not empty`)
        mkdirSync(a.dir, { recursive: true })
        dir = a.dir
      } else {
        tempRoot = makeTempDir('fbh-read-bench-')
        dir = path.join(tempRoot, 'archive')
      }
      process.stderr.write(`recording ${formatInt(a.requests)} requests into ${dir}\n`)
      rec = await record(a, dir, a.requests, 0)
      rateRun = rec
      process.stderr.write(`recorded: ${formatInt(rec.answered)} requests answered, ${formatInt(rec.rate)} req/s\n`)
    }
    warnings.push(...(rateRun?.warnings ?? []))

    // Counts, and the page cache warmed.
    const totals: ArchiveTotals = await verifyArchiveJson(a.cli, dir, READ_TIMEOUT_MS)
    if (!totals.ok) throw new Error(`verify failed on ${dir}: ${totals.problems.slice(0, 3).join('; ')}`)
    if (rec !== null && totals.records < rec.answered) warnings.push(`archive holds ${formatInt(totals.records)} records, fewer than the ${formatInt(rec.answered)} requests answered`)
    process.stderr.write(`archive: ${formatInt(totals.records)} records, ${totals.files} file(s), ${formatBytes(totals.fileBytes)} on disk, ${formatBytes(totals.streamBytes)} record stream\n`)

    const times: Record<Reader, number[]> = { verify: [], dump: [] }
    for (let r = 0; r < a.rounds; r++) {
      const order = r % 2 === 0 ? READERS : [...READERS].reverse()
      for (const reader of order) {
        const t = await timeReader(reader, a.cli, dir)
        if (t.records !== null && t.records !== totals.records) warnings.push(`round ${r + 1}: verify counted ${t.records} records, not ${totals.records}`)
        times[reader].push(t.seconds)
        process.stderr.write(`round ${r + 1} ${reader}: ${t.seconds.toFixed(2)} s, ${formatInt(totals.records / t.seconds)} records/s, ${(totals.streamBytes / 1e6 / t.seconds).toFixed(1)} MB/s stream\n`)
      }
    }

    // Report
    const recRate = rateRun?.rate ?? NaN
    const rows = READERS.map(reader => {
      const ts = times[reader]
      const rps = summarize(ts.map(t => totals.records / t))
      const ratio = rps.median / recRate
      return {
        reader,
        ratio,
        cells: [
          `\`${reader === 'verify' ? 'verify' : 'dump --json'}\``,
          format3(median(ts)),
          ...summaryCells(rps, formatInt),
          ...summaryCells(summarize(ts.map(t => totals.streamBytes / 1e6 / t)), format3),
          format3(median(ts.map(t => totals.fileBytes / 1e6 / t))),
          Number.isFinite(ratio) ? ratio.toFixed(2) : 'n/a',
          Number.isFinite(ratio) ? (ratio >= GOAL ? 'yes' : '**no**') : 'n/a'
        ]
      }
    })
    const table = markdownTable(['Reader', 's (median)', 'records/s (median)', 'records/s (min–max)', 'MB/s record stream (median)', 'MB/s stream (min–max)', 'MB/s on disk (median)', '× recording rate', `≥ ${GOAL}×`],
      rows.map(r => r.cells), ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'l'])
    const load = loadLine()
    const met = rows.every(r => r.ratio >= GOAL)
    const recLine = rateRun === null
      ? '- Recording rate: not measured (`--record-seconds 0`): no ratio'
      : `- Recording rate: **${formatInt(recRate)} records/s** — ${rec !== null ? 'the run that recorded this archive' : `a separate ${a.recordSeconds} s recording run (archive discarded)`}: \`taskset -c ${SERVER_CPU} ${serveCommandText(['--out', 'DIR'])}\`, loaded by \`${wrkCommandText(rec !== null ? 'N' : a.recordSeconds, URL_PATH)}\` after a ${a.warmup} s warm-up${rec !== null ? ', stopped (SIGINT) once `/_blackhole/stats` counted the target' : ''}; ${formatInt(rateRun.main.requests)} requests in ${rateRun.main.seconds.toFixed(1)} s, p99 ${format3(rateRun.main.p99Ms)} ms`
    const body = [
      '### Read side (`test/bench/read.ts`)',
      '',
      '`blackhole verify` and `blackhole dump --json` over a recorded archive, against the rate at which',
      'the sink recorded it (issue 8, goal 5: at least 3× in records/s).',
      '',
      ...commandLines(commandText(a)),
      '',
      ...machineLines(machine),
      `- Code: ${code}`,
      load,
      `- Archive: ${rec !== null ? `recorded in this run (${formatInt(rec.answered)} requests answered: readiness probe, warm-up and the run)` : 'given with `--archive`'}; ${formatInt(totals.records)} records in ${totals.files} file(s), ${formatBytes(totals.fileBytes)} on disk, ${formatBytes(totals.streamBytes)} of decompressed record stream (ratio ${(totals.streamBytes / Math.max(1, totals.fileBytes)).toFixed(2)}), ${formatInt(totals.streamBytes / Math.max(1, totals.records))} B per record with its length prefix`,
      recLine,
      `- Readers: \`${readerText('verify')}\` and \`${readerText('dump')}\`, timed from spawn to exit (Node's start-up included); one unmeasured \`verify --json\` first (counts, page cache warm: the files are read from memory), then ${a.rounds} rounds alternating the order; median and min–max over rounds`,
      '- MB = 10^6 bytes: "record stream" is the decompressed stream of length-prefixed records (what the readers decode), "on disk" the archive files as stored',
      `- Goal: both readers ≥ ${GOAL}× the recording rate in records/s: **${rateRun === null ? 'not measured' : met ? 'met' : 'not met'}**`,
      '',
      table,
      ...warnings.map(w => `- note: ${w}`)
    ].join('\n')
    process.stdout.write(`\n${table}\n${recLine}\n`)
    for (const w of warnings) process.stdout.write(`- note: ${w}\n`)
    if (a.writeDocs) {
      replaceDocSection(DOCS, 'read-bench', body)
      process.stderr.write(`updated ${DOCS}\n`)
    }
  } finally {
    if (tempRoot !== null) removeTempDir(tempRoot)
    else if (a.dir !== null && a.archive === null && !a.keep) removeTempDir(a.dir)
  }
}

try {
  await main()
} catch (err) {
  process.stderr.write(`read bench: ${(err as Error).stack ?? String(err)}\n`)
  process.exitCode = 1
}
