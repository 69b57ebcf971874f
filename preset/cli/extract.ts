import { extractRecords } from '../../lib/interchange/extract.js'
import { sizeFlag, UsageError, type CommandSpec, type ParsedFlags } from './args.js'
import { out } from './output.js'

export const extractSpec: CommandSpec = {
  name: 'extract',
  summary: 'Write a recorded request as a raw HTTP/1.1 message file that nc can send as it was received.',
  usage: 'extract --id ID [--out DIR] PATH...',
  details: 'Writes DIR/request_<id>.http (request_<id>_2.http... when several records have the id).\n' +
    'A chunked body is re-chunked as one chunk; otherwise Content-Length matches the stored body. See docs/interchange.md.',
  minPositionals: 1,
  flags: {
    id: { type: 'string', arg: 'ID', help: 'the record id (see dump)' },
    out: { type: 'string', short: 'o', arg: 'DIR', default: '.', help: 'directory for the message files' },
    'max-record': { type: 'string', arg: 'BYTES', default: '256MiB', help: 'refuse records larger than this' }
  }
}

export async function runExtract (flags: ParsedFlags, paths: string[]): Promise<number> {
  const id = flags.id as string | undefined
  if (id === undefined) throw new UsageError('--id ID is required')
  const maxRecordBytes = sizeFlag('max-record', flags['max-record'], 1)
  const written = await extractRecords(paths, id, String(flags.out), { maxRecordBytes })
  if (written.length === 0) {
    process.stderr.write(`blackhole extract: no record with id '${id}'\n`)
    return 1
  }
  for (const w of written) {
    await out(`${w.file}  ${w.bytes} bytes${w.notes.length ? '  (' + w.notes.join('; ') + ')' : ''}\n`)
  }
  return 0
}
