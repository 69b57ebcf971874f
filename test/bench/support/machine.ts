// What a run measured on: the machine, its load and the code's commit, for the docs.
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import os from 'node:os'
import { formatBytes } from './format.js'
import { REPO } from './layout.js'

/** The CPUs this process may run on (e.g. "0" under `taskset -c 0`), from /proc when available. */
export function allowedCpus (): string | null {
  try {
    const m = /^Cpus_allowed_list:\s*(.+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))
    return m === null ? null : m[1].trim()
  } catch {
    return null
  }
}

export interface MachineInfo {
  cpuModel: string
  cores: number
  allowedCpus: string | null
  memory: string
  os: string
  node: string
  date: string
}

export function machineInfo (): MachineInfo {
  let cpuModel = os.cpus()[0]?.model ?? 'unknown'
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))
    if (m !== null) cpuModel = m[1].trim()
  } catch {
    // Not Linux: keep what os.cpus() says.
  }
  return {
    cpuModel,
    cores: os.cpus().length,
    allowedCpus: allowedCpus(),
    memory: formatBytes(os.totalmem()),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z')
  }
}

/** Markdown bullet lines describing the machine. */
export function machineLines (m: MachineInfo): string[] {
  const pinned = m.allowedCpus !== null && m.allowedCpus !== `0-${m.cores - 1}` ? ` (run pinned to CPU ${m.allowedCpus})` : ''
  return [
    `- CPU: ${m.cpuModel}, ${m.cores} logical cores${pinned}`,
    `- Memory: ${m.memory}; OS: ${m.os}`,
    `- Node.js: ${m.node}`,
    `- Date: ${m.date}`
  ]
}

/** One line of `uptime` (load averages), or the load averages alone. */
export function uptimeLine (): string {
  try {
    return execFileSync('uptime', { encoding: 'utf8' }).trim().replace(/\s+/g, ' ')
  } catch {
    return `load average ${os.loadavg().map(x => x.toFixed(2)).join(', ')}`
  }
}

/**
 * Notes the load average, `uptime` and the time now; the function returned notes them again and
 * gives the docs line about the load over the whole run.
 */
export function watchLoad (): () => string {
  const uptimeStart = uptimeLine()
  const loadStart = os.loadavg()[0]
  const t0 = Date.now()
  return () => {
    const uptimeEnd = uptimeLine()
    const loadEnd = os.loadavg()[0]
    const elapsed = (Date.now() - t0) / 1000
    return `- Load average (1 min): ${loadStart.toFixed(2)} at the start, ${loadEnd.toFixed(2)} at the end (\`uptime\`: "${uptimeStart}" / "${uptimeEnd}"); whole run ${elapsed.toFixed(0)} s`
  }
}

/** The commit measured, and whether the sources under `dirs` differ from it. */
export function codeVersion (dirs: readonly string[] = ['lib', 'plugin', 'preset', 'schema']): string {
  try {
    const head = execFileSync('git', ['-C', REPO, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim()
    const dirty = execFileSync('git', ['-C', REPO, 'status', '--porcelain', '--', ...dirs], { encoding: 'utf8' }).trim()
    return dirty === '' ? `commit ${head}` : `commit ${head} plus uncommitted changes in ${dirs.slice(0, -1).map(d => `${d}/`).join(', ')} or ${dirs[dirs.length - 1]}/`
  } catch {
    return 'unknown (not a git checkout)'
  }
}
