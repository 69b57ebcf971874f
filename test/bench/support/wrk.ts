// wrk runs: one thread on the client CPU, CONNECTIONS keep-alive connections POSTing post.lua's
// bodies; the command line, the run and its parsed output.
import path from 'node:path'
import { CLIENT_CPU, CONNECTIONS, POST_LUA, REPO } from './layout.js'
import { start, stop } from './processes.js'
import { clockTicks } from './procfs.js'

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

/** `taskset` arguments of one wrk run. */
function wrkArgs (seconds: number | string, url: string, script: string): string[] {
  return ['-c', CLIENT_CPU, 'wrk', '-t1', `-c${CONNECTIONS}`, `-d${seconds}s`, '--latency', '-s', script, url]
}

/** The wrk command as the docs show it: the script's path in the repository, PORT for the port. */
export function wrkCommandText (seconds: number | string, urlPath: string): string {
  return ['taskset', ...wrkArgs(seconds, `http://127.0.0.1:PORT${urlPath}`, path.relative(REPO, POST_LUA))].join(' ')
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

function parseWrk (out: string): WrkResult {
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
    cpuSeconds: cpu === null ? NaN : (Number(cpu[1]) + Number(cpu[2])) / clockTicks(),
    raw: out
  }
}

/**
 * Runs wrk for `seconds` against `urlPath` on 127.0.0.1:`port`; `whileRunning` may poll and call
 * `interrupt()` to stop it early (SIGINT: wrk reports). Throws on a wrk failure or on any non-2xx
 * answer.
 */
export async function runWrk (port: number, urlPath: string, seconds: number, whileRunning?: (interrupt: () => void, finished: () => boolean) => Promise<void>): Promise<WrkResult> {
  const p = start('taskset', wrkArgs(seconds, `http://127.0.0.1:${port}${urlPath}`, POST_LUA))
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

/** wrk's CPU time per wall second of its run, 0 when post.lua did not report it. */
export function wrkCpuShare (w: WrkResult): number {
  return Number.isFinite(w.cpuSeconds) ? w.cpuSeconds / w.seconds : 0
}
