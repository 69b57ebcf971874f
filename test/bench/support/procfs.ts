// Readings from /proc (Linux): CPU time of a process, of its threads and of each core, memory,
// and waiting for quiet cores before a measurement.
import { execFileSync } from 'node:child_process'
import { readFileSync, readdirSync } from 'node:fs'
import { pct } from './format.js'
import { sleep } from './processes.js'

const CLK_TCK = ((): number => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
  } catch {
    return 100
  }
})()

/** Clock ticks per second of the /proc CPU times (`getconf CLK_TCK`, usually 100: 10 ms steps). */
export function clockTicks (): number {
  return CLK_TCK
}

/** VmHWM and VmRSS of a process, in bytes. */
export function memory (pid: number): { hwm: number, rss: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = (name: string): number => {
    const m = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(s)
    if (m === null) throw new Error(`/proc/${pid}/status has no ${name}`)
    return Number(m[1]) * 1024
  }
  return { hwm: kb('VmHWM'), rss: kb('VmRSS') }
}

/** utime + stime, in clock ticks, of a /proc/.../stat line. */
function statTicks (stat: string): number {
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ') // f[0] is field 3 (state)
  return Number(f[11]) + Number(f[12])
}

/** User + system CPU of a process in clock ticks, every thread including the ones that exited. */
export function processTicks (pid: number): number {
  return statTicks(readFileSync(`/proc/${pid}/stat`, 'utf8'))
}

/** User + system CPU seconds of a process (every thread). */
export function processCpu (pid: number): number {
  return processTicks(pid) / CLK_TCK
}

export type CoreTimes = Map<string, { busy: number, total: number }>

/** Busy and total jiffies of each CPU, from /proc/stat. */
export function coreTimes (): CoreTimes {
  const m: CoreTimes = new Map()
  for (const line of readFileSync('/proc/stat', 'utf8').split('\n')) {
    const r = /^cpu(\d+)\s+(.*)$/.exec(line)
    if (r === null) continue
    const v = r[2].trim().split(/\s+/).map(Number)
    const total = v.slice(0, 8).reduce((a, b) => a + b, 0) // user..steal; guest is inside user
    m.set(r[1], { busy: total - v[3] - v[4], total })
  }
  return m
}

export function coreBusy (a: CoreTimes, b: CoreTimes, cpu: string): number {
  const x = a.get(cpu)
  const y = b.get(cpu)
  if (x === undefined || y === undefined || y.total === x.total) return NaN
  return (y.busy - x.busy) / (y.total - x.total)
}

const QUIET_BUSY = 0.15
const QUIET_MAX_WAIT_MS = 120_000

/**
 * Waits (at most 2 minutes) until the given CPUs are all under 15 % busy over two seconds, so a
 * measurement does not start while something else (a build, a test run) holds the cores.
 * Returns a warning when it gave up waiting.
 */
export async function waitQuiet (cpus: readonly string[], maxWaitMs = QUIET_MAX_WAIT_MS): Promise<string | null> {
  const t0 = Date.now()
  for (;;) {
    const a = coreTimes()
    await sleep(2000)
    const b = coreTimes()
    const busy = cpus.map(c => coreBusy(a, b, c))
    if (busy.every(x => x < QUIET_BUSY)) return null
    if (Date.now() - t0 >= maxWaitMs) {
      return `CPUs not quiet before the run (${cpus.map((c, i) => `CPU ${c} ${pct(busy[i])}`).join(', ')} busy after ${Math.round(maxWaitMs / 1000)} s of waiting)`
    }
  }
}

export interface ThreadTime {
  tid: number
  comm: string
  /** utime + stime, clock ticks. */
  ticks: number
  /** Time on a CPU in nanoseconds (/proc/PID/task/TID/schedstat, first field), NaN when missing. */
  ns: number
}

/** Where a thread sleeps (/proc/PID/task/TID/wchan, e.g. `do_epoll_wait`, `futex_do_wait`), '' when running or gone. */
export function threadWchan (pid: number, tid: number): string {
  try {
    return readFileSync(`/proc/${pid}/task/${tid}/wchan`, 'utf8').trim().replace(/^0$/, '')
  } catch {
    return ''
  }
}

/**
 * CPU time (utime + stime, clock ticks, and nanoseconds from schedstat) and name of every live
 * thread of a process, from /proc/PID/task/TID/stat, .../schedstat and .../comm. Threads that exit between the listing and the read are skipped.
 */
export function threadTimes (pid: number): Map<number, ThreadTime> {
  const m = new Map<number, ThreadTime>()
  for (const name of readdirSync(`/proc/${pid}/task`)) {
    const tid = Number(name)
    try {
      const stat = readFileSync(`/proc/${pid}/task/${name}/stat`, 'utf8')
      let comm: string
      try {
        comm = readFileSync(`/proc/${pid}/task/${name}/comm`, 'utf8').replace(/\n$/, '')
      } catch {
        comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))
      }
      let ns = NaN
      try {
        ns = Number(readFileSync(`/proc/${pid}/task/${name}/schedstat`, 'utf8').split(' ')[0])
      } catch {
        // No schedstat (kernel without CONFIG_SCHED_INFO): ticks only.
      }
      m.set(tid, { tid, comm, ticks: statTicks(stat), ns })
    } catch {
      // The thread exited meanwhile: its time is in the process total only.
    }
  }
  return m
}
