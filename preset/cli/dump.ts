import { decodeRaw, listArchiveFiles, readFileRecords } from '../../lib/archive/reader.js'
import { formatText } from '../../lib/interchange/dump.js'
import { toJsonLine } from '../../lib/interchange/jsonl.js'
import { intFlag, sizeFlag, type CommandSpec, type ParsedFlags } from './args.js'
import { flushOut, outBuffered } from './output.js'
import { readSources, s3ReadFlags } from './s3-flags.js'

export const dumpSpec: CommandSpec = {
  name: 'dump',
  summary: 'Print recorded requests as readable text, or as one JSON object per line.',
  usage: 'dump [flags] PATH...',
  details: 'PATH is an archive file (.fbf.lz4, .fbf, blackhole\'s or ours), a directory of them (read in name order),\n' +
    'or s3://bucket/prefix: every archive object below the prefix, streamed (docs/scaling.md).',
  minPositionals: 1,
  flags: {
    json: { type: 'boolean', default: false, help: 'one JSON object per line; body base64, headers as stored' },
    limit: { type: 'string', arg: 'N', default: '0', help: 'stop after N records (0: all)' },
    id: { type: 'string', arg: 'ID', help: 'only records with this id' },
    'max-body': { type: 'string', arg: 'BYTES', default: '4096', help: 'text mode: show at most this much of a text body (0: all)' },
    'max-record': { type: 'string', arg: 'BYTES', default: '256MiB', help: 'refuse records larger than this' },
    ...s3ReadFlags
  }
}

export async function runDump (flags: ParsedFlags, paths: string[]): Promise<number> {
  const limit = intFlag('limit', flags.limit)
  const maxBody = sizeFlag('max-body', flags['max-body'])
  const maxRecordBytes = sizeFlag('max-record', flags['max-record'], 1)
  const id = flags.id as string | undefined
  const sources = readSources(flags)
  const files = await listArchiveFiles(paths, sources)
  let shown = 0
  try {
    for (const file of files) {
      for await (const raw of readFileRecords(file, { maxRecordBytes, sources })) {
        const r = decodeRaw(raw)
        if (id !== undefined && r.id !== id) continue
        shown++
        const text = flags.json ? toJsonLine(r, file) : formatText(r, shown, maxBody) + '\n'
        const wrote = outBuffered(text)
        if (wrote !== true && !await wrote) return 0
        if (limit > 0 && shown >= limit) return 0
      }
    }
  } finally {
    // Every record read before an error is out before the error is reported.
    await flushOut()
  }
  return 0
}
