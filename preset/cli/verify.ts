import { ArchiveError, decodeRaw, listArchiveFiles, newSummary, readFileRecords, type ArchiveSources, type FileSummary } from '../../lib/archive/reader.js'
import { isoTimeNs } from '../../lib/interchange/dump.js'
import { sizeFlag, type CommandSpec, type ParsedFlags } from './args.js'
import { out } from './output.js'
import { readSources, s3ReadFlags } from './s3-flags.js'

export const verifySpec: CommandSpec = {
  name: 'verify',
  summary: 'Check every frame, block, checksum and record of archives; exit 0 only when all are whole.',
  usage: 'verify [flags] PATH...',
  details: 'Prints one line per file: record count, sizes, time range and the first problem found.\n' +
    'PATH may be s3://bucket/prefix: every archive object below it, streamed.',
  minPositionals: 1,
  flags: {
    json: { type: 'boolean', default: false, help: 'one JSON object per file' },
    'max-record': { type: 'string', arg: 'BYTES', default: '256MiB', help: 'treat records larger than this as corrupt' },
    ...s3ReadFlags
  }
}

export interface VerifyResult extends FileSummary {
  ok: boolean
  badRecords: number
  firstTimeNs: string | null
  lastTimeNs: string | null
  problems: string[]
}

export async function verifyFile (file: string, maxRecordBytes: number, sources?: ArchiveSources): Promise<VerifyResult> {
  const sum = newSummary(file)
  const problems: string[] = []
  let badRecords = 0
  let first = 0n
  let last = 0n
  try {
    for await (const raw of readFileRecords(file, { maxRecordBytes, sources }, sum)) {
      try {
        const t = decodeRaw(raw).timeNs
        if (t !== 0n) {
          if (first === 0n || t < first) first = t
          if (t > last) last = t
        }
      } catch (err) {
        // A bad record does not stop the walk: its length prefix still says where the next one is.
        if (badRecords++ < 10) problems.push((err as Error).message)
      }
    }
  } catch (err) {
    problems.push(err instanceof ArchiveError ? err.message : `${file}: ${(err as Error).message}`)
  }
  if (sum.format === 'empty' && sum.fileBytes === 0 && problems.length === 0) problems.push(`${file}: empty file`)
  return {
    ...sum,
    ok: problems.length === 0,
    badRecords,
    firstTimeNs: first === 0n ? null : isoTimeNs(first),
    lastTimeNs: last === 0n ? null : isoTimeNs(last),
    problems
  }
}

export async function runVerify (flags: ParsedFlags, paths: string[]): Promise<number> {
  const maxRecordBytes = sizeFlag('max-record', flags['max-record'], 1)
  const sources = readSources(flags)
  const files = await listArchiveFiles(paths, sources)
  let bad = 0
  for (const file of files) {
    const r = await verifyFile(file, maxRecordBytes, sources)
    if (!r.ok) bad++
    let line
    if (flags.json) {
      line = JSON.stringify(r)
    } else {
      const time = r.firstTimeNs ? `  time=${r.firstTimeNs}..${r.lastTimeNs}` : ''
      line = `${r.ok ? 'OK  ' : 'FAIL'} ${file}  records=${r.records}  bytes=${r.fileBytes}  content=${r.streamBytes}  format=${r.format}  frames=${r.frames}  blocks=${r.blocks}${time}`
      for (const p of r.problems) line += `\n     ${p}`
      if (r.badRecords > r.problems.length) line += `\n     ... ${r.badRecords} bad records in all`
    }
    if (!await out(line + '\n')) break
  }
  if (!flags.json) await out(`${files.length} file(s), ${bad} with problems\n`)
  return bad === 0 && files.length > 0 ? 0 : 1
}
