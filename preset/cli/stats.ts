import { archiveStats, formatStats } from '../../lib/interchange/stats.js'
import { intFlag, sizeFlag, type CommandSpec, type ParsedFlags } from './args.js'
import { out } from './output.js'
import { readSources, s3ReadFlags } from './s3-flags.js'

export const statsSpec: CommandSpec = {
  name: 'stats',
  summary: 'Summarise archives: records, time span, rate over time, methods, top paths, status codes, body sizes.',
  usage: 'stats [flags] PATH...',
  details: 'One pass over the records; memory does not grow with their number (distinct paths are tracked up to 10,000).\n' +
    'PATH may be s3://bucket/prefix: every archive object below it, streamed.',
  minPositionals: 1,
  flags: {
    json: { type: 'boolean', default: false, help: 'one JSON object' },
    top: { type: 'string', arg: 'N', default: '10', help: 'rows in the top paths tables' },
    'max-record': { type: 'string', arg: 'BYTES', default: '256MiB', help: 'refuse records larger than this' },
    ...s3ReadFlags
  }
}

export async function runStats (flags: ParsedFlags, paths: string[]): Promise<number> {
  const top = intFlag('top', flags.top, 1, 1000)
  const maxRecordBytes = sizeFlag('max-record', flags['max-record'], 1)
  const s = await archiveStats(paths, { maxRecordBytes, top, sources: readSources(flags) })
  await out(flags.json ? JSON.stringify(s) + '\n' : formatStats(s))
  return 0
}
