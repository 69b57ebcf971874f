// autocannon (a dev dependency): where it is, its version and its --json result.
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { REPO } from './layout.js'

export const AUTOCANNON = path.join(REPO, 'node_modules/autocannon/autocannon.js')

export function autocannonVersion (): string {
  try {
    return (JSON.parse(readFileSync(path.join(REPO, 'node_modules/autocannon/package.json'), 'utf8')) as { version: string }).version
  } catch {
    return '(version unknown)'
  }
}

export interface AutocannonResult {
  ok2xx: number
  non2xx: number
  errors: number
  timeouts: number
  /** autocannon's own duration, s. */
  seconds: number
  p50Ms: number
  p99Ms: number
}

/** The result `autocannon --json` prints as its last JSON line. */
export function parseAutocannon (output: string): AutocannonResult {
  const line = output.split('\n').filter(l => l.startsWith('{')).pop()
  if (line === undefined) throw new Error(`no JSON from autocannon:\n${output.slice(-2000)}`)
  const j = JSON.parse(line) as { '2xx': number, non2xx: number, errors: number, timeouts: number, duration: number, latency: { p50: number, p99: number } }
  return { ok2xx: j['2xx'], non2xx: j.non2xx, errors: j.errors, timeouts: j.timeouts, seconds: j.duration, p50Ms: j.latency.p50, p99Ms: j.latency.p99 }
}

export function autocannonProblems (r: AutocannonResult): string[] {
  return r.non2xx + r.errors + r.timeouts > 0 ? [`autocannon: ${r.non2xx} non-2xx, ${r.errors} errors, ${r.timeouts} timeouts`] : []
}
