// Import HAR or JSON Lines into an archive directory. Records are written into a staging
// directory next to the target (same file system), sealed there, and only then moved into the
// target; on any failure the staging directory is deleted, so the target never holds a
// half-written file from an import.
import { createReadStream, type Stats } from 'node:fs'
import { mkdir, mkdtemp, readFile, readdir, rename, rm, stat, unlink } from 'node:fs/promises'
import path from 'node:path'
import type { Readable } from 'node:stream'
import { ArchiveWriter, type ArchiveWriterOptions } from '../archive/writer.js'
import type { CodecName } from '../format/codecs.js'
import { hasCode, ImportError } from '../errors.js'
import { isArchiveName } from '../format/archive-name.js'
import { fromHarEntry } from './har.js'
import { readJsonl } from './jsonl.js'
import type { RequestRecord } from '../format/record.js'

/** Largest HAR file read by default: it is parsed whole. */
export const DEFAULT_MAX_HAR_BYTES = 256 << 20
/** V8's longest string is about 512 MiB: a HAR file cannot be parsed whole beyond that. */
export const MAX_HAR_BYTES = 512 << 20

export interface ImportOptions {
  /** Archive codec. Default `auto`. */
  codec?: CodecName
  /** HAR files larger than this are refused. Default 256 MiB, at most 512 MiB. */
  maxHarBytes?: number
  /** Other writer options (rotation size, prefix, checksums...). `dir` is managed here. */
  writer?: Omit<ArchiveWriterOptions, 'dir' | 'codec'>
  /** Stdin, for an input named `-`. Default process.stdin. */
  stdin?: Readable
}

export interface ImportResult {
  records: number
  /** Sealed archive files now in the target directory. */
  files: string[]
  dir: string
}

type Emit = (r: RequestRecord) => Promise<void>

/** Flush to disk when this much is waiting, so memory stays bounded on big inputs. */
const FLUSH_PENDING_BYTES = 16 << 20

async function importRecords (outDir: string, opts: ImportOptions, produce: (emit: Emit) => Promise<void>): Promise<ImportResult> {
  const dir = path.resolve(outDir)
  const parent = path.dirname(dir)
  await mkdir(parent, { recursive: true })
  const staging = await mkdtemp(path.join(parent, `.${path.basename(dir)}.import-`))
  const writer = new ArchiveWriter({
    flushMs: 0,
    rotateMs: 0,
    maxPendingBytes: 1 << 30,
    ...opts.writer,
    dir: staging,
    codec: opts.codec ?? 'auto',
    recover: false,
    flushOnExit: false
  })
  const moved: string[] = []
  let records = 0
  try {
    await writer.ready()
    await produce(async r => {
      if (!writer.record(r)) {
        throw new ImportError(`record ${records + 1} could not be written (${JSON.stringify(writer.stats().dropped)})`)
      }
      records++
      if (writer.stats().pendingBytes >= FLUSH_PENDING_BYTES) await writer.flush()
    })
    await writer.close()
    const s = writer.stats()
    if (s.writeErrors > 0 || s.recordsDropped > 0 || s.recordsWritten !== records) {
      throw new ImportError(`writing the archive failed: ${s.writeErrors} write error(s), ${s.recordsDropped} record(s) dropped`)
    }
    const names = (await readdir(staging)).filter(isArchiveName).sort()
    await mkdir(dir, { recursive: true, mode: 0o700 })
    for (const n of names) {
      const target = path.join(dir, n)
      await rename(path.join(staging, n), target)
      moved.push(target)
    }
    return { records, files: moved, dir }
  } catch (err) {
    await writer.close().catch(() => {})
    for (const f of moved) await unlink(f).catch(() => {})
    throw err
  } finally {
    await rm(staging, { recursive: true, force: true })
  }
}

/** The input file's stat; a missing or unreadable file is bad input. */
async function statInput (input: string): Promise<Stats> {
  try {
    return await stat(input)
  } catch (err) {
    throw new ImportError(`${input}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`)
  }
}

async function readAll (input: Readable, max: number, name: string): Promise<string> {
  const chunks: Buffer[] = []
  let n = 0
  for await (const c of input) {
    const b = typeof c === 'string' ? Buffer.from(c) : c as Buffer
    n += b.length
    if (n > max) throw new ImportError(`${name}: larger than the limit of ${max} bytes (--max-har)`)
    chunks.push(b)
  }
  return Buffer.concat(chunks).toString('utf8')
}

/** Reads and parses a HAR file whole (up to `maxHarBytes`). */
export async function readHarFile (input: string, opts: ImportOptions = {}): Promise<unknown> {
  const max = Math.min(opts.maxHarBytes ?? DEFAULT_MAX_HAR_BYTES, MAX_HAR_BYTES)
  let text: string
  if (input === '-') {
    text = await readAll(opts.stdin ?? process.stdin, max, 'stdin')
  } else {
    const size = (await statInput(input)).size
    if (size > max) throw new ImportError(`${input}: ${size} bytes is larger than the limit of ${max} bytes (--max-har)`)
    text = await readFile(input, 'utf8')
  }
  if (text.charCodeAt(0) === 0xFEFF) text = text.slice(1)
  try {
    return JSON.parse(text)
  } catch (err) {
    throw new ImportError(`${input}: not valid JSON (${(err as Error).message})`)
  }
}

/** Imports the entries of a HAR file (`-` for stdin) into an archive in `outDir`. */
export async function importHar (input: string, outDir: string, opts: ImportOptions = {}): Promise<ImportResult> {
  const har = await readHarFile(input, opts)
  const log = (har as { log?: unknown } | null)?.log
  const entries = (log as { entries?: unknown } | null | undefined)?.entries
  if (typeof har !== 'object' || har === null || typeof log !== 'object' || log === null) {
    throw new ImportError(`${input}: not a HAR file (no "log" object)`)
  }
  if (!Array.isArray(entries)) throw new ImportError(`${input}: not a HAR file (no "log.entries" array)`)
  return importRecords(outDir, opts, async emit => {
    for (let i = 0; i < entries.length; i++) {
      let record
      try {
        record = fromHarEntry(entries[i], i)
      } catch (err) {
        if (hasCode(err, 'FST_BLACKHOLE_HAR_ENTRY')) throw new ImportError(`${input}: ${(err as Error).message}`)
        throw err
      }
      entries[i] = undefined // the parsed entry is no longer needed
      await emit(record)
    }
  })
}

/** Imports JSON Lines (`-` for stdin), streaming line by line, into an archive in `outDir`. */
export async function importJsonl (input: string, outDir: string, opts: ImportOptions = {}): Promise<ImportResult> {
  let stream: Readable
  if (input === '-') {
    stream = opts.stdin ?? process.stdin
  } else {
    if (!(await statInput(input)).isFile()) throw new ImportError(`${input}: not a file`)
    stream = createReadStream(input)
  }
  try {
    return await importRecords(outDir, opts, async emit => {
      for await (const { record } of readJsonl(stream)) await emit(record)
    })
  } catch (err) {
    if (hasCode(err, 'FST_BLACKHOLE_JSONL_LINE')) throw new ImportError(`${input}: ${(err as Error).message}`)
    throw err
  } finally {
    if (input !== '-') stream.destroy()
  }
}
