// Command-line options shared by the benchmarks: integer flags, and the flags of the benchmarks
// that start the sink CLI themselves.
import path from 'node:path'
import { CLI } from './layout.js'

/** An integer command-line option (parseArgs string values), at least `min`, or a clear error. */
export function intOption (values: Record<string, unknown>, name: string, min: number): number {
  const v = String(values[name])
  const n = Number(v)
  if (!Number.isSafeInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}, got '${v}'`)
  return n
}

/** Options of the benchmarks that start the sink CLI themselves (cpu.ts, read.ts). */
export const SINK_CLI_OPTIONS = {
  'quiet-wait': { type: 'string', default: '120' },
  cli: { type: 'string', default: CLI },
  'write-docs': { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false }
} as const

export interface SinkCliValues { quietWait: number, cli: string, writeDocs: boolean }

/** Reads SINK_CLI_OPTIONS' values; prints `usage` and exits for --help. */
export function sinkCliValues (values: Record<string, unknown>, usage: string): SinkCliValues {
  if (values.help === true) {
    process.stdout.write(usage + '\n')
    process.exit(0)
  }
  return { quietWait: intOption(values, 'quiet-wait', 0), cli: path.resolve(String(values.cli)), writeDocs: values['write-docs'] === true }
}
