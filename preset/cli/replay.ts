import { durationFlag, intFlag, UsageError, type CommandSpec, type ParsedFlags } from './args.js'
import { hasCode, type CodedError } from '../../lib/errors.js'
import { replayErrorMessage, resolveReplayOptions, type Pacing, type ReplayOptions } from '../../lib/replay/options.js'
import { headerOption, type OutgoingRequest } from '../../lib/replay/request.js'
import type { ReplaySummary } from '../../lib/replay/summary.js'
import { out } from './output.js'
import { parseShard } from '../../lib/replay/shard.js'
import { readSources, s3ReadFlags } from './s3-flags.js'

export const replaySpec: CommandSpec = {
  name: 'replay',
  summary: 'Send recorded requests to a target: paced, filtered, rewritten, multiplied, and measured.',
  usage: 'replay --target URL [flags] PATH...',
  details: 'Pacing is one of --concurrency (as fast as possible, the default), --rate (open model) or --speed (recorded gaps / X).\n' +
    'Headers are sent as recorded except Host (the target\'s unless --keep-host) and hop-by-hop ones\n' +
    '(Connection, Transfer-Encoding, Content-Length...), which are recomputed for the stored body.\n' +
    'PATH may be s3://bucket/prefix (objects are streamed). --shard i/n replays the i-th of n disjoint shares of the files.',
  minPositionals: 1,
  flags: {
    target: { type: 'string', short: 't', arg: 'URL', help: 'http(s)://host:port[/base] to send to (required unless --dry-run)' },
    concurrency: { type: 'string', short: 'c', arg: 'N', default: '16', help: 'requests in flight, as fast as possible' },
    rate: { type: 'string', short: 'r', arg: 'R', help: 'requests per second on a fixed schedule (does not slow down with the target; lag is reported)' },
    speed: { type: 'string', arg: 'X', help: 'keep the recorded gaps divided by X (2 = twice as fast); needs recorded arrival times' },
    'max-wait': { type: 'string', arg: 'DURATION', help: 'with --speed: clamp any recorded gap to this' },
    connections: { type: 'string', arg: 'N', help: 'pooled keep-alive connections (default: the concurrency, or 64)' },
    loop: { type: 'string', arg: 'N', default: '1', help: 'replay the set N times' },
    duration: { type: 'string', arg: 'DURATION', help: 'keep looping until this much time has passed (e.g. 60s)' },
    multiply: { type: 'string', arg: 'N', default: '1', help: 'send each request N times, spread over the same schedule' },
    method: { type: 'string', multiple: true, arg: 'METHOD', help: 'only these methods' },
    path: { type: 'string', arg: 'REGEX', help: 'only request targets (path and query) matching this' },
    header: { type: 'string', multiple: true, arg: "'NAME: REGEX'", help: 'only requests with a header NAME matching REGEX' },
    since: { type: 'string', arg: 'TIME', help: 'only requests recorded at or after TIME (ISO 8601 or epoch ms)' },
    until: { type: 'string', arg: 'TIME', help: 'only requests recorded before TIME' },
    id: { type: 'string', multiple: true, arg: 'ID', help: 'only records with this id' },
    limit: { type: 'string', arg: 'N', help: 'take at most N records per loop (after filters, before --multiply)' },
    sample: { type: 'string', arg: 'P', help: 'keep this fraction of the matching records (repeatable with --seed)' },
    seed: { type: 'string', arg: 'N', default: '1', help: 'seed for --sample' },
    'set-header': { type: 'string', multiple: true, arg: "'NAME: VALUE'", help: 'set a header on every request; VALUE may use {n} {copy} {loop} {id}' },
    'remove-header': { type: 'string', multiple: true, arg: 'NAME', help: 'remove a recorded header' },
    'rewrite-path': { type: 'string', multiple: true, arg: 'FROM:TO', help: 'replace the regex FROM (no colon) with TO in the path and query' },
    'keep-host': { type: 'boolean', default: false, help: 'send the recorded Host header instead of the target\'s' },
    timeout: { type: 'string', arg: 'DURATION', default: '30s', help: 'per-request timeout for headers and body' },
    insecure: { type: 'boolean', default: false, help: 'accept any TLS certificate from the target' },
    'fail-status': { type: 'string', arg: 'LIST', default: '5xx', help: 'statuses counted as failures: codes and classes, comma-separated, or none' },
    'max-errors': { type: 'string', arg: 'N', default: '0', help: 'exit 1 when more requests than this fail (transport errors plus --fail-status answers)' },
    'max-mismatch': { type: 'string', arg: 'N', default: '0', help: 'exit 1 when more replies than this differ from the recorded status' },
    drain: { type: 'string', arg: 'DURATION', default: '5s', help: 'on Ctrl-C, time to wait for requests in flight' },
    json: { type: 'boolean', default: false, help: 'print the summary as JSON' },
    'dry-run': { type: 'boolean', default: false, help: 'print what would be sent (method, URL, headers, body size), send nothing' },
    shard: { type: 'string', arg: 'I/N', help: 'replay only the I-th of N disjoint shares of the files (by a hash of the file name); N processes with 1/N..N/N replay each file once' },
    ...s3ReadFlags
  }
}

function regex (flag: string, s: string): RegExp {
  try {
    return new RegExp(s)
  } catch (err) {
    throw new UsageError(`--${flag}: invalid regular expression '${s}': ${(err as Error).message}`)
  }
}

function timeNs (flag: string, s: string): bigint {
  if (/^\d+$/.test(s)) return BigInt(s) * 1_000_000n
  const ms = Date.parse(s)
  if (Number.isNaN(ms)) throw new UsageError(`--${flag} must be an ISO 8601 time or epoch milliseconds, got '${s}'`)
  return BigInt(ms) * 1_000_000n
}

/** A number as written; `what` says which numbers lib/replay takes, for the message. */
function numberFlag (flag: string, v: unknown, what: string): number {
  const n = String(v).trim() === '' ? NaN : Number(v)
  if (Number.isNaN(n)) throw new UsageError(`--${flag} must be ${what}, got '${String(v)}'`)
  return n
}

function headerPair (flag: string, s: string): [string, string] {
  const pair = headerOption(s)
  if (pair === null) throw new UsageError(`--${flag} must look like 'Name: value', got '${s}'`)
  return pair
}

const list = (v: unknown): string[] => (v as string[] | undefined) ?? []

function pacingOf (flags: ParsedFlags): Pacing {
  if (flags.rate !== undefined && flags.speed !== undefined) throw new UsageError('--rate and --speed cannot be combined: choose one pacing')
  if (flags['max-wait'] !== undefined && flags.speed === undefined) throw new UsageError('--max-wait only applies with --speed')
  if (flags.rate !== undefined) return { mode: 'rate', rate: numberFlag('rate', flags.rate, 'a positive number') }
  if (flags.speed === undefined) return { mode: 'concurrency', concurrency: intFlag('concurrency', flags.concurrency) }
  const speed: Pacing = { mode: 'speed', speed: numberFlag('speed', flags.speed, 'a positive number') }
  if (flags['max-wait'] !== undefined) speed.maxWaitMs = durationFlag('max-wait', flags['max-wait'])
  return speed
}

/** The flag behind each option lib/replay checks, to name it when the check fails. */
const FLAG_OF = new Map<string, string>([
  ['pacing.concurrency', '--concurrency'],
  ['pacing.rate', '--rate'],
  ['pacing.speed', '--speed'],
  ['pacing.maxWaitMs', '--max-wait'],
  ['connections', '--connections'],
  ['loop', '--loop'],
  ['durationMs', '--duration'],
  ['multiply', '--multiply'],
  ['limit', '--limit'],
  ['filter.sample', '--sample'],
  ['filter.seed', '--seed'],
  ['target', '--target'],
  ['shard', '--shard'],
  ['timeoutMs', '--timeout'],
  ['failStatus', '--fail-status'],
  ['drainMs', '--drain']
])

/** A ReplayError as a usage error (exit 2), worded with the flag when it is about one. */
function asUsageError (err: unknown): unknown {
  if (!hasCode(err, 'FST_BLACKHOLE_REPLAY')) return err
  return new UsageError(replayErrorMessage(err as CodedError, FLAG_OF))
}

/** The options of the command line, checked by lib/replay (a usage error naming the flag). */
export function replayOptions (flags: ParsedFlags, paths: string[]): ReplayOptions {
  const pacing = pacingOf(flags)
  const dryRun = flags['dry-run'] === true
  const target = flags.target as string | undefined
  if (target === undefined && !dryRun) throw new UsageError('--target is required (or use --dry-run)')
  let shard
  try {
    shard = flags.shard === undefined ? undefined : parseShard(String(flags.shard))
  } catch (err) {
    throw asUsageError(err)
  }
  const opts: ReplayOptions = {
    paths,
    sources: readSources(flags),
    ...(shard !== undefined ? { shard } : {}),
    target: target ?? 'http://dry-run.invalid/',
    pacing,
    connections: flags.connections === undefined ? undefined : intFlag('connections', flags.connections),
    loop: intFlag('loop', flags.loop),
    durationMs: flags.duration === undefined ? undefined : durationFlag('duration', flags.duration),
    multiply: intFlag('multiply', flags.multiply),
    limit: flags.limit === undefined ? undefined : intFlag('limit', flags.limit),
    filter: {
      methods: list(flags.method),
      path: flags.path === undefined ? undefined : regex('path', String(flags.path)),
      headers: list(flags.header).map(h => { const [n, v] = headerPair('header', h); return [n, regex('header', v)] as [string, RegExp] }),
      sinceNs: flags.since === undefined ? undefined : timeNs('since', String(flags.since)),
      untilNs: flags.until === undefined ? undefined : timeNs('until', String(flags.until)),
      ids: list(flags.id),
      sample: flags.sample === undefined ? undefined : numberFlag('sample', flags.sample, 'a number from 0 to 1'),
      seed: intFlag('seed', flags.seed)
    },
    rewrite: {
      setHeaders: list(flags['set-header']).map(h => headerPair('set-header', h)),
      removeHeaders: list(flags['remove-header']),
      rewritePath: list(flags['rewrite-path']).map(r => {
        const i = r.indexOf(':')
        if (i <= 0) throw new UsageError(`--rewrite-path must look like FROM:TO, got '${r}'`)
        return [regex('rewrite-path', r.slice(0, i)), r.slice(i + 1)] as [RegExp, string]
      }),
      keepHost: flags['keep-host'] === true
    },
    timeoutMs: durationFlag('timeout', flags.timeout),
    insecure: flags.insecure === true,
    failStatus: String(flags['fail-status']).split(',').map(x => x.trim()).filter(Boolean),
    drainMs: durationFlag('drain', flags.drain)
  }
  try {
    resolveReplayOptions(opts)
  } catch (err) {
    throw asUsageError(err)
  }
  return opts
}

function formatSummary (s: ReplaySummary): string {
  const lines = [
    `sent ${s.sent}, answered ${s.answered} in ${(s.durationMs / 1000).toFixed(2)} s (${s.achievedRate.toFixed(1)} req/s)${s.stopped ? ', stopped early' : ''}`,
    `records read ${s.read}, matched ${s.matched}`,
    `statuses: ${Object.entries(s.statuses).map(([k, v]) => `${k}=${v}`).join(' ') || 'none'}`,
    `errors: connect=${s.errors.connect} timeout=${s.errors.timeout} reset=${s.errors.reset} invalid=${s.errors.invalid} other=${s.errors.other}; failed statuses=${s.failedStatus}`,
    `latency ms: p50=${s.latency.p50} p90=${s.latency.p90} p99=${s.latency.p99} p99.9=${s.latency.p999} max=${s.latency.max} mean=${s.latency.mean}`
  ]
  if (s.lag !== null) lines.push(`schedule lag ms: mean=${s.lag.mean} p99=${s.lag.p99} max=${s.lag.max}`)
  if (s.compared > 0) lines.push(`recorded status differs: ${s.mismatched} of ${s.compared}`)
  return lines.join('\n') + '\n'
}

/** What a dry run prints for a request: method and URL, headers, body size. */
function dryRunText (r: OutgoingRequest, target: string | undefined): string {
  const hs = []
  for (let i = 0; i < r.headers.length; i += 2) hs.push(`  ${r.headers[i]}: ${r.headers[i + 1]}`)
  return `${r.method} ${new URL(r.path, target).href}\n${hs.join('\n')}${hs.length ? '\n' : ''}  [body ${r.body?.length ?? 0} bytes]\n`
}

export async function runReplay (flags: ParsedFlags, paths: string[]): Promise<number> {
  const opts = replayOptions(flags, paths)
  const maxErrors = intFlag('max-errors', flags['max-errors'])
  const maxMismatch = intFlag('max-mismatch', flags['max-mismatch'])
  const { replay } = await import('../../lib/replay/replay.js')
  const dryRun = flags['dry-run'] === true
  const listing: string[] = []
  if (dryRun) opts.dryRun = r => listing.push(dryRunText(r, opts.target))
  const tty = !dryRun && process.stderr.isTTY === true && flags.json !== true
  if (tty) {
    opts.onProgress = (p) => {
      const eta = p.etaMs === null ? '' : `  ETA ${Math.ceil(p.etaMs / 1000)} s`
      process.stderr.write(`\rsent ${p.sent}  answered ${p.answered}  ${p.rate.toFixed(0)} req/s  errors ${p.errors}${eta}   `)
    }
  }
  const ac = new AbortController()
  const onSigint = (): void => {
    if (ac.signal.aborted) process.exit(130)
    process.stderr.write('\nblackhole replay: stopping (Ctrl-C again to quit at once)\n')
    ac.abort()
  }
  process.on('SIGINT', onSigint)
  opts.signal = ac.signal
  let s: ReplaySummary
  try {
    s = await replay(opts)
  } catch (err) {
    throw asUsageError(err)
  } finally {
    process.removeListener('SIGINT', onSigint)
    if (tty) process.stderr.write('\n')
  }
  if (dryRun) {
    for (const l of listing) if (!await out(l)) break
    return 0
  }
  await out(flags.json === true ? JSON.stringify(s) + '\n' : formatSummary(s))
  if (s.stopped) return 130
  return s.failed > maxErrors || s.mismatched > maxMismatch ? 1 : 0
}
