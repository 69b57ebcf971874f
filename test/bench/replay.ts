// Throughput of `blackhole replay` against autocannon, on the same target, connections and body.
//
// The target is `blackhole serve --no-record` pinned to CPU 0 (taskset -c 0), started once. The
// clients run pinned to CPU 1 (taskset -c 1), alternating in every round (odd rounds replay
// first, even rounds autocannon first), after one warm-up run each:
//
//   replay      taskset -c 1 node <out>/preset/cli.js replay --target http://127.0.0.1:PORT
//                 --concurrency 64 --loop N --json ARCHIVE
//   autocannon  taskset -c 1 node node_modules/autocannon/autocannon.js -c 64 -a <same count>
//                 -m POST -H content-type=application/json -i BODY --json http://127.0.0.1:PORT/ingest
//
// The archive holds ~20k POST /ingest records with the same 2,048 B JSON body autocannon sends.
// req/s for replay is answered / durationMs from its own JSON summary (process start-up and the
// first archive read excluded, as autocannon excludes its own start-up); for autocannon it is
// 2xx / duration from its JSON. Goal: replay reaches at least 90 % of autocannon's req/s.
//
// Usage (after `npm run build`):
//   node dist/test/bench/replay.js [--rounds 5] [--records 20000] [--loop 3] [--write-docs]
// Linux only (taskset), at least 2 CPUs.
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import { ArchiveWriter } from '../../lib/archive/writer.js'
import { AUTOCANNON, autocannonProblems, autocannonVersion, parseAutocannon } from './support/autocannon.js'
import { BENCHMARKS_DOC, replaceDocSection } from './support/docs.js'
import { format3, formatBytes, formatInt, markdownTable } from './support/format.js'
import { CLI, CLIENT_CPU, CONNECTIONS, OUT_NAME, SERVER_CPU } from './support/layout.js'
import { machineInfo, machineLines, uptimeLine } from './support/machine.js'
import { intOption } from './support/options.js'
import { makeTempDir, removeTempDir, run, start, stop, type Proc } from './support/processes.js'
import { freePort, waitReady } from './support/server.js'
import { median, summarize } from './support/statistics.js'

const BODY_BYTES = 2048
const URL_PATH = '/ingest'
const RUN_TIMEOUT_MS = 180_000

interface Args {
  rounds: number
  records: number
  loop: number
  writeDocs: boolean
}

function parseCli (argv: string[]): Args {
  const { values } = parseArgs({
    args: argv,
    options: {
      rounds: { type: 'string', default: '5' },
      records: { type: 'string', default: '20000' },
      loop: { type: 'string', default: '3' },
      'write-docs': { type: 'boolean', default: false }
    }
  })
  return {
    rounds: intOption(values, 'rounds', 1),
    records: intOption(values, 'records', 100),
    loop: intOption(values, 'loop', 1),
    writeDocs: values['write-docs'] === true
  }
}

const load1 = (): number => os.loadavg()[0]

// ---------------------------------------------------------------------------------------------
// Workload

/** A 2,048 B JSON order, the same for every record and for autocannon. */
function jsonBody (): Buffer {
  const base = { id: 'ord-000001', customer: { id: 'c-42', name: 'Ada Lovelace', email: 'ada@example.test' }, items: [{ sku: 'A-1', qty: 2, price: 9.99 }, { sku: 'B-7', qty: 1, price: 24.5 }], note: '' }
  const without = Buffer.byteLength(JSON.stringify(base))
  base.note = 'x'.repeat(BODY_BYTES - without)
  const b = Buffer.from(JSON.stringify(base))
  if (b.length !== BODY_BYTES) throw new Error(`body is ${b.length} bytes`)
  return b
}

async function buildArchive (dir: string, records: number, body: Buffer): Promise<{ files: number, bytes: number }> {
  const w = new ArchiveWriter({ dir, flushMs: 0, recover: false })
  await w.ready()
  const t0 = 1_700_000_000_000_000_000n
  for (let i = 0; i < records; i++) {
    const ok = w.record({
      id: `bench-${i}`,
      method: 'POST',
      uri: URL_PATH,
      headers: `Host: bench.example\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`,
      body,
      timeNs: t0 + BigInt(i) * 1_000_000n
    })
    if (!ok) {
      await w.flush()
      i--
    }
  }
  await w.close()
  const files = readdirSync(dir).filter(n => /\.fbf(\.lz4)?$/.test(n))
  return { files: files.length, bytes: files.reduce((s, n) => s + statSync(path.join(dir, n)).size, 0) }
}

// ---------------------------------------------------------------------------------------------
// Clients

interface Result {
  client: 'replay' | 'autocannon'
  round: number
  requests: number
  rps: number
  p50: number
  p99: number
  /** Wall time of the client process, ms (start-up and archive reading included). */
  wallMs: number
  problems: string[]
}

function replayArgs (port: number, archive: string, loop: number): string[] {
  return ['-c', CLIENT_CPU, process.execPath, CLI, 'replay', '--target', `http://127.0.0.1:${port}`, '--concurrency', String(CONNECTIONS), '--loop', String(loop), '--json', archive]
}

function autocannonArgs (port: number, amount: number, bodyFile: string): string[] {
  return ['-c', CLIENT_CPU, process.execPath, AUTOCANNON, '-c', String(CONNECTIONS), '-a', String(amount), '-m', 'POST', '-H', 'content-type=application/json', '-i', bodyFile, '--json', `http://127.0.0.1:${port}${URL_PATH}`]
}

async function runReplay (port: number, archive: string, loop: number, expected: number, round: number): Promise<Result> {
  const r = await run('taskset', replayArgs(port, archive, loop), { timeoutMs: RUN_TIMEOUT_MS })
  const problems: string[] = []
  if (r.exit.code !== 0) problems.push(`replay exit ${r.exit.code}: ${r.stderr.slice(-500)}`)
  const s = JSON.parse(r.stdout) as { answered: number, durationMs: number, failed: number, latency: { p50: number, p99: number } }
  if (s.answered !== expected) problems.push(`replay answered ${s.answered} of ${expected}`)
  if (s.failed !== 0) problems.push(`replay: ${s.failed} failed`)
  return { client: 'replay', round, requests: s.answered, rps: s.answered / (s.durationMs / 1000), p50: s.latency.p50, p99: s.latency.p99, wallMs: r.ms, problems }
}

async function runAutocannon (port: number, amount: number, bodyFile: string, round: number): Promise<Result> {
  const r = await run('taskset', autocannonArgs(port, amount, bodyFile), { timeoutMs: RUN_TIMEOUT_MS })
  const problems: string[] = []
  if (r.exit.code !== 0) problems.push(`autocannon exit ${r.exit.code}: ${r.stderr.slice(-500)}`)
  const j = parseAutocannon(r.stdout)
  if (j.ok2xx < amount) problems.push(`autocannon: ${j.ok2xx} 2xx of ${amount}`)
  problems.push(...autocannonProblems(j))
  return { client: 'autocannon', round, requests: j.ok2xx, rps: j.ok2xx / j.seconds, p50: j.p50Ms, p99: j.p99Ms, wallMs: r.ms, problems }
}

// ---------------------------------------------------------------------------------------------
// Report

function report (a: Args, results: Result[], info: { archiveFiles: number, archiveBytes: number, loadStart: number, loadEnd: number, uptimeStart: string, uptimeEnd: string, totalS: number }): { text: string, ratio: number } {
  const rep = results.filter(r => r.client === 'replay')
  const ac = results.filter(r => r.client === 'autocannon')
  const ratios = rep.map(r => r.rps / (ac.find(x => x.round === r.round)?.rps ?? NaN))
  const ratio = median(rep.map(r => r.rps)) / median(ac.map(r => r.rps))
  const requests = a.records * a.loop
  const row = (name: string, rs: Result[]): string[] => {
    const s = summarize(rs.map(r => r.rps))
    return [name, formatInt(s.median), `${formatInt(s.min)}–${formatInt(s.max)}`, format3(median(rs.map(r => r.p50))), format3(median(rs.map(r => r.p99))), format3(median(rs.map(r => r.wallMs)) / 1000), rs.map(r => formatInt(r.rps)).join(', ')]
  }
  const rs = summarize(ratios)
  const table = markdownTable(
    ['Client', 'req/s (median)', 'req/s (min–max)', 'p50 ms (median)', 'p99 ms (median)', 'process wall s (median)', 'per round'],
    [
      row('`blackhole replay`', rep),
      row('autocannon', ac),
      ['**replay / autocannon**', `**${ratio.toFixed(3)}**`, `${rs.min.toFixed(3)}–${rs.max.toFixed(3)} (per round)`, '', '', '', ratios.map(x => x.toFixed(3)).join(', ')]
    ],
    ['l', 'r', 'r', 'r', 'r', 'r', 'l']
  )
  const m = machineInfo()
  const lines = [
    '### Replay throughput (`test/bench/replay.ts`)',
    '',
    'Command (after `npm run build`):',
    '',
    '```sh',
    `node dist/test/bench/replay.js${a.rounds === 5 && a.records === 20000 && a.loop === 3 ? '' : ` --rounds ${a.rounds} --records ${a.records} --loop ${a.loop}`} --write-docs`,
    '```',
    '',
    OUT_NAME === 'dist'
      ? 'This run: the command above.'
      : `This run was built into \`${OUT_NAME}/\` instead (\`npx tsc -p tsconfig.json --outDir ${OUT_NAME}\`, then \`node ${OUT_NAME}/test/bench/replay.js${a.rounds === 5 && a.records === 20000 && a.loop === 3 ? '' : ' ...'} --write-docs\`); the commands below say \`dist/\`, the normal build.`,
    '',
    ...machineLines(m),
    `- Load: the machine was shared with other test runs; 1-minute load average ${info.loadStart.toFixed(2)} at the start, ${info.loadEnd.toFixed(2)} at the end (\`uptime\`: "${info.uptimeStart}" / "${info.uptimeEnd}"); whole run ${Math.round(info.totalS)} s`,
    `- Workload: an archive of ${formatInt(a.records)} \`POST ${URL_PATH}\` records (${info.archiveFiles} file(s), ${formatBytes(info.archiveBytes)} on disk with the default codec), each with the same ${formatInt(BODY_BYTES)} B JSON body and \`Content-Type: application/json\`; replay \`--loop ${a.loop}\` sends ${formatInt(requests)} requests per round, autocannon \`-a ${requests}\` the same number with the same body, header and ${CONNECTIONS} connections`,
    `- Target: \`taskset -c ${SERVER_CPU} node dist/preset/cli.js serve --no-record --host 127.0.0.1 --port PORT --log-level warn --stats-interval 0\`, started once for the whole run`,
    `- Replay: \`taskset -c ${CLIENT_CPU} node dist/preset/cli.js replay --target http://127.0.0.1:PORT --concurrency ${CONNECTIONS} --loop ${a.loop} --json ARCHIVE\`; req/s = \`answered / durationMs\` of its JSON summary (process start-up excluded, archive reading and decoding included since they run during the replay)`,
    `- autocannon ${autocannonVersion()}: \`taskset -c ${CLIENT_CPU} node node_modules/autocannon/autocannon.js -c ${CONNECTIONS} -a ${requests} -m POST -H content-type=application/json -i BODY.json --json http://127.0.0.1:PORT${URL_PATH}\`; req/s = \`2xx / duration\` of its JSON`,
    `- ${a.rounds} rounds after one warm-up run of each client; the order alternates (odd rounds replay first, even rounds autocannon first); median and min–max over rounds; every request answered 200, no errors`,
    `- Goal: replay at least 0.90 × autocannon's req/s: **${ratio >= 0.9 ? 'met' : 'not met'}** (${ratio.toFixed(3)})`,
    '',
    table
  ]
  return { text: lines.join('\n'), ratio }
}

// ---------------------------------------------------------------------------------------------

async function main (): Promise<void> {
  const a = parseCli(process.argv.slice(2))
  if (os.cpus().length < 2) throw new Error('needs at least 2 CPUs (server and client pinned apart)')
  try {
    execFileSync('taskset', ['-c', '0', 'true'])
  } catch {
    throw new Error('taskset (util-linux) is required')
  }
  for (const f of [CLI, AUTOCANNON]) if (!existsSync(f)) throw new Error(`missing ${f} (build first; npm install for autocannon)`)
  const t0 = performance.now()
  const uptimeStart = uptimeLine()
  const loadStart = load1()
  const work = makeTempDir('fbh-replay-bench-')
  let sink: Proc | null = null
  try {
    const body = jsonBody()
    const bodyFile = path.join(work, 'body.json')
    writeFileSync(bodyFile, body)
    const archive = path.join(work, 'archive')
    process.stderr.write(`building an archive of ${a.records} records...\n`)
    const built = await buildArchive(archive, a.records, body)
    const port = await freePort()
    sink = start('taskset', ['-c', SERVER_CPU, process.execPath, CLI, 'serve', '--no-record', '--host', '127.0.0.1', '--port', String(port), '--log-level', 'warn', '--stats-interval', '0'])
    await waitReady(sink, port, '/_blackhole/stats')
    const requests = a.records * a.loop

    process.stderr.write('warm-up...\n')
    const warm = [await runReplay(port, archive, 1, a.records, 0), await runAutocannon(port, a.records, bodyFile, 0)]
    for (const w of warm) if (w.problems.length > 0) throw new Error(`warm-up ${w.client}: ${w.problems.join('; ')}`)

    const results: Result[] = []
    for (let round = 1; round <= a.rounds; round++) {
      const order = round % 2 === 1 ? ['replay', 'autocannon'] : ['autocannon', 'replay']
      for (const c of order) {
        const r = c === 'replay' ? await runReplay(port, archive, a.loop, requests, round) : await runAutocannon(port, requests, bodyFile, round)
        if (r.problems.length > 0) throw new Error(`round ${round} ${r.client}: ${r.problems.join('; ')}`)
        results.push(r)
        process.stderr.write(`round ${round} ${r.client.padEnd(10)} ${formatInt(r.rps)} req/s  p50 ${r.p50} ms  p99 ${r.p99} ms  (load ${load1().toFixed(2)})\n`)
      }
    }
    await stop(sink)
    sink = null
    const { text, ratio } = report(a, results, {
      archiveFiles: built.files,
      archiveBytes: built.bytes,
      loadStart,
      loadEnd: load1(),
      uptimeStart,
      uptimeEnd: uptimeLine(),
      totalS: (performance.now() - t0) / 1000
    })
    process.stdout.write(text + '\n')
    if (a.writeDocs) {
      // replaceDocSection reads the file right before writing and touches only this section.
      replaceDocSection(BENCHMARKS_DOC, 'replay-bench', text)
      process.stderr.write(`wrote the replay-bench section of ${BENCHMARKS_DOC}\n`)
    }
    process.stderr.write(`replay / autocannon = ${ratio.toFixed(3)} (goal >= 0.90)\n`)
  } finally {
    if (sink !== null) await stop(sink)
    removeTempDir(work)
  }
}

main().catch((err: Error) => {
  process.stderr.write(`bench/replay: ${err.stack ?? err.message}\n`)
  process.exitCode = 1
})
