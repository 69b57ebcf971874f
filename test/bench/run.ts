// `npm run bench`: every benchmark in turn, each writing its own section of docs/benchmarks.md.
// Arguments after `--` are passed to every benchmark (for example `-- --rounds 3`; --rounds is the
// one flag they all accept).
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const here = (name: string): string => fileURLToPath(new URL(name, import.meta.url))
const extra = process.argv.slice(2)
const runs: Array<{ name: string, cmd: string, args: string[] }> = [
  // The archive micro-benchmark measures one process: pin it to one core.
  { name: 'archive', cmd: 'taskset', args: ['-c', '0', process.execPath, here('./archive.js'), '--write-docs'] },
  // These pin their own server and client processes.
  { name: 'sink', cmd: process.execPath, args: [here('./sink.js'), '--write-docs'] },
  // Peak RSS over 2 million recorded requests (its own part of the sink section).
  { name: 'sink rss', cmd: process.execPath, args: [here('./sink.js'), '--rounds', '0', '--rss-requests', '2000000', '--write-docs'] },
  { name: 'plugin', cmd: process.execPath, args: [here('./plugin.js'), '--write-docs'] },
  { name: 'replay', cmd: process.execPath, args: [here('./replay.js'), '--write-docs'] },
  // Request-thread cost at a fixed rate: the server unpinned, then pinned to CPU 0 (autocannon on CPU 1).
  { name: 'cpu', cmd: process.execPath, args: [here('./cpu.js'), '--write-docs'] },
  { name: 'cpu --pin', cmd: process.execPath, args: [here('./cpu.js'), '--pin', '--write-docs'] },
  // Records 2 million requests, then times verify and dump --json over them (pinned to CPU 0).
  { name: 'read', cmd: process.execPath, args: [here('./read.js'), '--write-docs'] }
]

let failed = 0
for (const r of runs) {
  process.stdout.write(`\n== ${r.name}: ${[r.cmd, ...r.args, ...extra].join(' ')}\n`)
  const res = spawnSync(r.cmd, [...r.args, ...extra], { stdio: 'inherit' })
  if (res.status !== 0) {
    failed++
    process.stderr.write(`bench ${r.name} failed (exit ${res.status ?? res.signal})\n`)
  }
}
process.exitCode = failed === 0 ? 0 : 1
