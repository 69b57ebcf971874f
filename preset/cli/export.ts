import { AtomicFileSink, type TextSink } from '../../lib/interchange/atomic-file.js'
import { exportHar } from '../../lib/interchange/har.js'
import { exportJsonl } from '../../lib/interchange/jsonl.js'
import { sizeFlag, UsageError, type CommandSpec, type ParsedFlags } from './args.js'
import { out } from './output.js'
import { readSources, s3ReadFlags } from './s3-flags.js'

export const exportSpec: CommandSpec = {
  name: 'export',
  summary: 'Write archived requests as a HAR 1.2 file or as JSON Lines (the dump --json shape).',
  usage: 'export (--har FILE | --jsonl FILE) [flags] PATH...',
  details: 'FILE "-" is stdout. A file is written as FILE.tmp and renamed when complete, so a failure leaves nothing half-written.\n' +
    'Entries are streamed one at a time: memory does not grow with the archive. See docs/interchange.md.\n' +
    'PATH may be s3://bucket/prefix: every archive object below it, streamed.',
  minPositionals: 1,
  flags: {
    har: { type: 'string', arg: 'FILE', help: 'write HAR 1.2 (one entry per record)' },
    jsonl: { type: 'string', arg: 'FILE', help: 'write one JSON object per line, as dump --json' },
    id: { type: 'string', arg: 'ID', help: 'only records with this id' },
    'max-record': { type: 'string', arg: 'BYTES', default: '256MiB', help: 'refuse records larger than this' },
    ...s3ReadFlags
  }
}

export async function runExport (flags: ParsedFlags, paths: string[]): Promise<number> {
  const har = flags.har as string | undefined
  const jsonl = flags.jsonl as string | undefined
  if ((har === undefined) === (jsonl === undefined)) throw new UsageError('give exactly one of --har FILE or --jsonl FILE')
  const target = (har ?? jsonl) as string
  if (target === '') throw new UsageError(`--${har !== undefined ? 'har' : 'jsonl'} needs a file name (or - for stdout)`)
  const maxRecordBytes = sizeFlag('max-record', flags['max-record'], 1)
  const opts = { maxRecordBytes, sources: readSources(flags), ...(typeof flags.id === 'string' ? { id: flags.id } : {}) }
  const run = (sink: TextSink): Promise<number> => har !== undefined ? exportHar(paths, sink, opts) : exportJsonl(paths, sink, opts)

  if (target === '-') {
    await run({ write: out })
    return 0
  }
  let sink: AtomicFileSink
  try {
    sink = await AtomicFileSink.open(target)
  } catch (err) {
    process.stderr.write(`blackhole export: cannot write ${target}.tmp: ${(err as Error).message}\n`)
    return 1
  }
  let n: number
  try {
    n = await run(sink)
    await sink.commit()
  } catch (err) {
    await sink.abort()
    throw err
  }
  await out(`wrote ${n} ${har !== undefined ? 'HAR entries' : 'JSON lines'} to ${target}\n`)
  return 0
}
