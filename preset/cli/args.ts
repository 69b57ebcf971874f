// Flag parsing for the `blackhole` subcommands, on node:util parseArgs. Each command declares
// its flags once; the parser, the defaults, environment variables and --help all come from it.
import { parseArgs } from 'node:util'
import { parseDuration, parseSize } from '../../lib/units.js'
import { UsageError } from '../../lib/errors.js'

export interface FlagSpec {
  type: 'string' | 'boolean'
  short?: string
  multiple?: boolean
  /** Shown in --help; for strings also the value used when the flag is absent. */
  default?: string | boolean
  /** Placeholder for the value in --help, e.g. `N` or `DIR`. */
  arg?: string
  help: string
  /** Environment variable read when the flag is absent (flags win). */
  env?: string
}

export interface CommandSpec {
  name: string
  summary: string
  usage: string
  flags: Record<string, FlagSpec>
  /** Positional arguments: how many are required. */
  minPositionals?: number
  details?: string
}

export { UsageError }

export type ParsedFlags = Record<string, string | boolean | string[] | undefined>

const HELP: FlagSpec = { type: 'boolean', short: 'h', help: 'show this help' }

export function parseCommand (spec: CommandSpec, argv: string[], env: NodeJS.ProcessEnv = process.env): { flags: ParsedFlags, positionals: string[] } {
  const options: Record<string, { type: 'string' | 'boolean', short?: string, multiple?: boolean }> = { help: HELP }
  for (const [name, f] of Object.entries(spec.flags)) {
    options[name] = { type: f.type, ...(f.short ? { short: f.short } : {}), ...(f.multiple ? { multiple: true } : {}) }
  }
  let parsed
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, allowNegative: true, strict: true })
  } catch (err) {
    throw new UsageError(cleanParseError((err as Error).message))
  }
  const flags = { ...parsed.values } as ParsedFlags
  if (flags.help === true) return { flags, positionals: parsed.positionals }
  for (const [name, f] of Object.entries(spec.flags)) {
    if (flags[name] !== undefined) continue
    const fromEnv = f.env ? env[f.env] : undefined
    if (fromEnv !== undefined && fromEnv !== '') {
      if (f.type === 'boolean') {
        if (!/^(1|0|true|false|yes|no|on|off)$/i.test(fromEnv)) throw new UsageError(`${f.env} must be true or false, got '${fromEnv}'`)
        flags[name] = /^(1|true|yes|on)$/i.test(fromEnv)
      } else {
        flags[name] = f.multiple ? fromEnv.split(',').map(s => s.trim()).filter(Boolean) : fromEnv
      }
    } else if (f.default !== undefined) {
      flags[name] = f.default
    }
  }
  if (parsed.positionals.length < (spec.minPositionals ?? 0)) {
    throw new UsageError(`missing argument: ${spec.usage}`)
  }
  return { flags, positionals: parsed.positionals }
}

function cleanParseError (msg: string): string {
  // parseArgs messages are multi-line with advice about '--'; keep the first sentence.
  const first = msg.split('\n')[0].replace(/\. To specify a positional argument.*$/, '')
  return first.replace(/^Unknown option '(.+?)'.*$/, 'unknown flag $1')
}

export function helpText (spec: CommandSpec): string {
  const lines = [`Usage: blackhole ${spec.usage}`, '', spec.summary, '']
  if (spec.details) lines.push(spec.details, '')
  lines.push('Flags:')
  const rows: Array<[string, string]> = []
  for (const [name, f] of Object.entries({ ...spec.flags, help: HELP })) {
    let left = `${f.short ? `-${f.short}, ` : '    '}--${name}`
    if (f.type === 'string') left += ` ${f.arg ?? 'VALUE'}`
    let right = f.help
    if (f.default !== undefined) right += ` (default: ${String(f.default)})`
    if (f.multiple) right += ' (repeatable)'
    if (f.env) right += ` [env ${f.env}]`
    rows.push([left, right])
  }
  const width = Math.max(...rows.map(r => r[0].length)) + 2
  for (const [l, r] of rows) lines.push(`  ${l.padEnd(width)}${r}`)
  return lines.join('\n') + '\n'
}

/** Parses a flag value as an integer in [min, max], naming the flag when it is not one. */
export function intFlag (name: string, value: unknown, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const s = String(value)
  const n = /^-?\d+$/.test(s) ? Number(s) : NaN
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`--${name} must be an integer from ${min} to ${max === Number.MAX_SAFE_INTEGER ? 'any' : max}, got '${s}'`)
  }
  return n
}

/** Parses a byte size (lib/units.ts) of at least `min`, naming the flag when it is not one. */
export function sizeFlag (name: string, value: unknown, min = 0): number {
  const n = parseSize(value)
  if (n === null || n < min) throw new UsageError(`--${name} must be a byte size such as 1048576, 64k or 1MiB (at least ${min}), got '${String(value).trim()}'`)
  return n
}

/** Parses a duration (lib/units.ts) of at least `min` ms, naming the flag when it is not one. */
export function durationFlag (name: string, value: unknown, min = 0): number {
  const n = parseDuration(value)
  if (n === null || n < min) throw new UsageError(`--${name} must be a duration such as 500ms, 10s or 5m (at least ${min} ms), got '${String(value).trim()}'`)
  return n
}
