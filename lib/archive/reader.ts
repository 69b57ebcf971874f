// Streaming archive reader: one LZ4 frame (or several concatenated frames, or a raw `.fbf`
// stream) in, records out. Memory is bounded by one block plus one record, never the file.
// Every problem is an ArchiveError naming the file and the byte offset where it was found.
import { readCodec, type BlockCodec } from '../format/codecs.js'
import { LZ4_LEGACY_MAGIC, LZ4_MAGIC, UNCOMPRESSED_BIT, isSkippableMagic, parseFrameHeader } from '../format/lz4-frame.js'
import { decodeRequest, RecordFormatError, type DecodedRequest } from '../format/record.js'
import { createXxh32, xxh32 } from '../format/xxh32.js'
import { ArchiveError, type ArchiveErrorKind } from '../errors.js'
import type { ByteSource } from './byte-source.js'
import { archiveSources, type ArchiveSources } from './sources.js'

export { ArchiveError, type ArchiveErrorKind, type ArchiveErrorCode } from '../errors.js'
export type { ByteSource } from './byte-source.js'
export { archiveSources, type ArchiveSources } from './sources.js'

export interface ReadOptions {
  /** Largest record accepted, in bytes. A bigger length prefix is an error, not an allocation. Default 256 MiB. */
  maxRecordBytes?: number
  /** Check block and content checksums where the frame has them. Default true. */
  verifyChecksums?: boolean
  /** Block decoder; default: the fastest installed (lz4-napi, else lz4js). */
  codec?: BlockCodec
  /** Called with every decompressed chunk of the record stream, in order (used by recovery). */
  onContent?: (chunk: Uint8Array) => void
  /** Opens a file by name. Default: `sources.open`. */
  open?: (file: string) => Promise<ByteSource>
  /** Where files are listed and opened: local paths and s3:// objects (with its S3 client). Default: `archiveSources()`. */
  sources?: ArchiveSources
}

export const DEFAULT_MAX_RECORD_BYTES = 256 << 20

/** One record's bytes and where it was found. `bytes` stays valid after the iteration moves on. */
export interface RawRecord {
  file: string
  /** Offset of the record's length prefix in the decompressed stream. */
  streamOffset: number
  /** File offset of the block (or, for raw files, the record) holding the record's start. */
  fileOffset: number
  bytes: Uint8Array
}

export interface FileSummary {
  file: string
  format: 'lz4' | 'raw' | 'empty'
  fileBytes: number
  /** Decompressed record-stream bytes. */
  streamBytes: number
  frames: number
  blocks: number
  records: number
  /** File bytes up to which everything is whole: complete blocks ending at a record boundary. */
  wholeFileBytes: number
  /** Record-stream bytes held by those whole blocks. */
  wholeStreamBytes: number
}

export function newSummary (file: string): FileSummary {
  return { file, format: 'empty', fileBytes: 0, streamBytes: 0, frames: 0, blocks: 0, records: 0, wholeFileBytes: 0, wholeStreamBytes: 0 }
}

/** Buffered positional reads, so small reads do not each cost a syscall. */
class FileSource {
  #buf: Buffer
  #start = 0
  #end = 0
  /** File offset of #buf[#start]. */
  pos = 0
  eof = false

  constructor (private readonly source: ByteSource, chunk = 1 << 20) {
    this.#buf = Buffer.allocUnsafe(chunk)
  }

  get available (): number {
    return this.#end - this.#start
  }

  /** Makes `n` bytes available; returns false when the file ends first. */
  async ensure (n: number): Promise<boolean> {
    while (this.#end - this.#start < n) {
      if (this.eof) return false
      if (this.#buf.length - this.#start < n) {
        const need = Math.max(n, this.#buf.length)
        const next = need > this.#buf.length ? Buffer.allocUnsafe(need) : this.#buf
        this.#buf.copy(next, 0, this.#start, this.#end)
        this.#end -= this.#start
        this.#start = 0
        this.#buf = next
      }
      const filePos = this.pos + this.#end - this.#start
      const bytesRead = await this.source.read(this.#buf, this.#end, this.#buf.length - this.#end, filePos)
      if (bytesRead === 0) this.eof = true
      this.#end += bytesRead
    }
    return true
  }

  /** A view of the next `n` available bytes; valid until the next `ensure`. */
  peek (n: number): Buffer {
    return this.#buf.subarray(this.#start, this.#start + n)
  }

  skip (n: number): void {
    this.#start += n
    this.pos += n
  }

  /** Moves past `n` bytes without reading them (they may be far more than memory). */
  seek (n: number): void {
    const inBuf = Math.min(n, this.available)
    this.skip(inBuf)
    if (n > inBuf) {
      this.pos += n - inBuf
      this.#start = this.#end = 0
    }
  }

  take (n: number): Buffer {
    const b = this.peek(n)
    this.skip(n)
    return b
  }
}

/** Cuts a continuous record stream, fed in chunks, into `[u64 length][record]` records. */
const INITIAL_RECORD_BYTES = 1 << 20

class RecordSplitter {
  #lenBuf = Buffer.alloc(8)
  #lenHave = 0
  #rec: Uint8Array | null = null
  /** Declared length of the record being assembled (#rec grows towards it as bytes arrive). */
  #recLen = 0
  #recHave = 0
  /** Stream offset of the next byte fed. */
  streamOffset = 0
  /** Stream offset where the current (incomplete) record began. */
  recordStart = 0
  /** File offset of the chunk where the current record began. */
  recordFileOffset = 0
  /** Raw streams: file offsets are stream offsets, and the file size bounds every length. */
  rawFileBytes: number | null = null

  constructor (readonly file: string, private readonly maxRecordBytes: number) {}

  get atBoundary (): boolean {
    return this.#lenHave === 0 && this.#rec === null
  }

  /** Splits `chunk` (owned by the caller, never reused) into records; partial data is kept. */
  * feed (chunk: Uint8Array, fileOffset: number): Generator<RawRecord> {
    let at = 0
    while (at < chunk.length) {
      if (this.#rec === null) {
        if (this.#lenHave === 0) {
          this.recordStart = this.streamOffset + at
          this.recordFileOffset = this.rawFileBytes === null ? fileOffset : this.recordStart
        }
        const n = Math.min(8 - this.#lenHave, chunk.length - at)
        this.#lenBuf.set(chunk.subarray(at, at + n), this.#lenHave)
        this.#lenHave += n
        at += n
        if (this.#lenHave < 8) break
        const lo = this.#lenBuf.readUInt32LE(0)
        const hi = this.#lenBuf.readUInt32LE(4)
        if (hi !== 0 || lo > this.maxRecordBytes) {
          const len = (BigInt(hi) << 32n) | BigInt(lo)
          throw new ArchiveError('TOO_LARGE', this.file, this.recordFileOffset,
            `record length ${len} exceeds the limit of ${this.maxRecordBytes} bytes`, this.recordStart)
        }
        if (this.rawFileBytes !== null && this.recordStart + 8 + lo > this.rawFileBytes) {
          throw new ArchiveError('TRUNCATED', this.file, this.recordFileOffset,
            `record length ${lo} runs past the end of the file`, this.recordStart)
        }
        if (chunk.length - at >= lo) {
          // Whole record inside this chunk: hand out a view, no copy.
          const bytes = chunk.subarray(at, at + lo)
          at += lo
          this.#lenHave = 0
          yield { file: this.file, streamOffset: this.recordStart, fileOffset: this.recordFileOffset, bytes }
          continue
        }
        // A damaged length prefix can claim up to maxRecordBytes: memory follows the bytes
        // that really arrive, not the claim.
        this.#rec = new Uint8Array(Math.min(lo, INITIAL_RECORD_BYTES))
        this.#recLen = lo
        this.#recHave = 0
      }
      let rec = this.#rec
      const n = Math.min(this.#recLen - this.#recHave, chunk.length - at)
      if (this.#recHave + n > rec.length) {
        const grown = new Uint8Array(Math.min(this.#recLen, Math.max(rec.length * 2, this.#recHave + n)))
        grown.set(rec.subarray(0, this.#recHave))
        rec = this.#rec = grown
      }
      rec.set(chunk.subarray(at, at + n), this.#recHave)
      this.#recHave += n
      at += n
      if (this.#recHave === this.#recLen) {
        this.#rec = null
        this.#lenHave = 0
        yield { file: this.file, streamOffset: this.recordStart, fileOffset: this.recordFileOffset, bytes: rec }
      }
    }
    this.streamOffset += chunk.length
  }
}

function readU32 (b: Uint8Array, at: number): number {
  return (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)) >>> 0
}

/**
 * Reads the records of one file. Whole records are yielded in order; at the first problem an
 * ArchiveError is thrown after every record before it was yielded. `summary` is filled as
 * reading goes, so it is accurate even when reading stops on an error.
 */
export async function * readFileRecords (file: string, opts: ReadOptions = {}, summary?: FileSummary): AsyncGenerator<RawRecord> {
  const maxRecordBytes = opts.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES
  const verify = opts.verifyChecksums ?? true
  const sum: FileSummary = summary ?? newSummary(file)
  let source: ByteSource
  try {
    source = opts.open !== undefined ? await opts.open(file) : await (opts.sources ?? archiveSources()).open(file)
    sum.fileBytes = source.size
  } catch (err) {
    throw new ArchiveError('IO', file, 0, (err as Error).message)
  }
  const src = new FileSource(source)
  const splitter = new RecordSplitter(file, maxRecordBytes)
  const fail = (code: ArchiveErrorKind, offset: number, msg: string): ArchiveError => new ArchiveError(code, file, offset, msg)
  try {
    if (!await src.ensure(4)) {
      if (src.available > 0) throw fail('TRUNCATED', 0, `file of ${src.available} bytes is too short to hold anything`)
      return
    }
    const first = readU32(src.peek(4), 0)
    if (first !== LZ4_MAGIC && !isSkippableMagic(first)) {
      if (first === LZ4_LEGACY_MAGIC) throw fail('CORRUPT', 0, 'legacy LZ4 format (lz4 -l) is not supported; recompress with plain lz4')
      sum.format = 'raw'
      splitter.rawFileBytes = sum.fileBytes
      yield * readRaw(src, splitter, sum, opts.onContent)
      return
    }
    sum.format = 'lz4'
    const codec = opts.codec ?? readCodec()
    while (await src.ensure(4)) {
      const magic = readU32(src.peek(4), 0)
      const frameAt = src.pos
      if (isSkippableMagic(magic)) {
        if (!await src.ensure(8)) throw fail('TRUNCATED', frameAt, 'file ends inside a skippable frame header')
        const size = readU32(src.peek(8), 4)
        src.skip(8)
        if (src.pos + size > sum.fileBytes) throw fail('TRUNCATED', frameAt, 'file ends inside a skippable frame')
        src.seek(size)
        continue
      }
      if (magic !== LZ4_MAGIC) {
        throw fail('CORRUPT', frameAt, `expected an LZ4 frame magic, found 0x${magic.toString(16).padStart(8, '0')}`)
      }
      sum.frames++
      yield * readFrame(src, codec, splitter, sum, verify, fail, opts.onContent)
    }
    if (src.available > 0) throw fail('CORRUPT', src.pos, `${src.available} stray bytes after the last frame`)
    if (!splitter.atBoundary) {
      throw new ArchiveError('TRUNCATED', file, splitter.recordFileOffset, 'stream ends inside a record', splitter.recordStart)
    }
  } catch (err) {
    if (err instanceof ArchiveError) throw err
    throw new ArchiveError('IO', file, src.pos, (err as Error).message)
  } finally {
    await source.close()
  }
}

async function * readRaw (src: FileSource, splitter: RecordSplitter, sum: FileSummary, onContent?: (c: Uint8Array) => void): AsyncGenerator<RawRecord> {
  // Raw streams are fed through the splitter in buffered chunks; a chunk is copied so the
  // records handed out stay valid when the source buffer is refilled.
  while (await src.ensure(1)) {
    const n = Math.min(src.available, 1 << 20)
    const at = src.pos
    const chunk = Uint8Array.prototype.slice.call(src.take(n))
    sum.streamBytes += n
    onContent?.(chunk)
    // In a raw stream file and stream offsets are the same, and every record end is a whole point.
    for (const rec of splitter.feed(chunk, at)) {
      sum.records++
      sum.wholeFileBytes = sum.wholeStreamBytes = rec.streamOffset + 8 + rec.bytes.length
      yield rec
    }
    if (splitter.atBoundary) sum.wholeFileBytes = sum.wholeStreamBytes = src.pos
  }
  if (!splitter.atBoundary) {
    throw new ArchiveError('TRUNCATED', splitter.file, splitter.recordFileOffset,
      'file ends inside a record', splitter.recordStart)
  }
}

async function * readFrame (
  src: FileSource, codec: BlockCodec, splitter: RecordSplitter, sum: FileSummary, verify: boolean,
  fail: (code: ArchiveErrorKind, offset: number, msg: string) => ArchiveError, onContent?: (c: Uint8Array) => void
): AsyncGenerator<RawRecord> {
  const frameAt = src.pos
  await src.ensure(19)
  let header
  try {
    header = parseFrameHeader(src.peek(Math.min(src.available, 19)))
  } catch (err) {
    throw fail('CORRUPT', frameAt, (err as Error).message)
  }
  if (header === null) throw fail('TRUNCATED', frameAt, 'file ends inside an LZ4 frame header')
  src.skip(header.length)
  const content = header.contentChecksum && verify ? createXxh32() : null
  let dict: Uint8Array | undefined
  for (;;) {
    const blockAt = src.pos
    if (!await src.ensure(4)) throw fail('TRUNCATED', blockAt, 'file ends before the LZ4 end mark (not sealed, or cut)')
    const word = readU32(src.take(4), 0)
    if (word === 0) break
    const stored = (word & UNCOMPRESSED_BIT) !== 0
    const size = word & ~UNCOMPRESSED_BIT
    if (size > header.maxBlockSize) throw fail('CORRUPT', blockAt, `block size ${size} exceeds the frame's maximum of ${header.maxBlockSize}`)
    const need = size + (header.blockChecksum ? 4 : 0)
    if (!await src.ensure(need)) throw fail('TRUNCATED', blockAt, `file ends inside a block of ${size} bytes`)
    const data = src.peek(size)
    // The spec checksums the stored block; older pierrec/lz4 v4 releases (blackhole's; their
    // issue 223) checksum the decompressed data instead. Either is accepted.
    const blockSum = header.blockChecksum && verify ? readU32(src.peek(need), size) : null
    const storedSumOk = blockSum === null || xxh32(data) === blockSum
    let out: Uint8Array
    if (stored) {
      out = Uint8Array.prototype.slice.call(data)
    } else {
      try {
        out = codec.decompressBlock(data, header.maxBlockSize, header.independent ? undefined : dict)
      } catch (err) {
        throw fail(storedSumOk ? 'CORRUPT' : 'CHECKSUM', blockAt, storedSumOk ? (err as Error).message : 'block checksum mismatch')
      }
    }
    if (!storedSumOk && xxh32(out) !== blockSum) throw fail('CHECKSUM', blockAt, 'block checksum mismatch')
    src.skip(need)
    sum.blocks++
    sum.streamBytes += out.length
    if (!header.independent) dict = out.length >= 65536 ? out.subarray(out.length - 65536) : concatTail(dict, out)
    content?.update(out)
    onContent?.(out)
    for (const rec of splitter.feed(out, blockAt)) {
      sum.records++
      yield rec
    }
    if (splitter.atBoundary) {
      sum.wholeFileBytes = src.pos
      sum.wholeStreamBytes = sum.streamBytes
    }
  }
  if (header.contentChecksum) {
    const at = src.pos
    if (!await src.ensure(4)) throw fail('TRUNCATED', at, 'file ends inside the content checksum')
    const expected = readU32(src.take(4), 0)
    if (content !== null && content.digest() >>> 0 !== expected) {
      throw fail('CHECKSUM', frameAt, 'content checksum mismatch for the frame')
    }
  }
}

function concatTail (prev: Uint8Array | undefined, out: Uint8Array): Uint8Array {
  if (prev === undefined) return out
  const joined = new Uint8Array(Math.min(65536, prev.length + out.length))
  const fromPrev = joined.length - out.length
  joined.set(prev.subarray(prev.length - fromPrev), 0)
  joined.set(out, fromPrev)
  return joined
}

/**
 * Expands paths into archive files (ArchiveSources.list): files as given, a directory's sealed
 * archives in name order, an s3:// prefix's archive objects.
 */
export async function listArchiveFiles (paths: readonly string[], sources: ArchiveSources = archiveSources()): Promise<string[]> {
  return sources.list(paths)
}

/** A decoded record with where it came from. */
export interface ArchiveRecord extends DecodedRequest {
  file: string
  streamOffset: number
  fileOffset: number
}

export function decodeRaw (raw: RawRecord): ArchiveRecord {
  let r: DecodedRequest
  try {
    r = decodeRequest(raw.bytes)
  } catch (err) {
    if (err instanceof RecordFormatError) {
      throw new ArchiveError('BAD_RECORD', raw.file, raw.fileOffset, err.message, raw.streamOffset)
    }
    throw err
  }
  return Object.assign(r, { file: raw.file, streamOffset: raw.streamOffset, fileOffset: raw.fileOffset })
}

/** Decoded records of every archive under `paths`, in file-name order. */
export async function * readArchive (paths: string | readonly string[], opts: ReadOptions = {}): AsyncGenerator<ArchiveRecord> {
  // One sources object for the whole walk: one S3 client for every object.
  const sources = opts.sources ?? archiveSources()
  const files = await sources.list(typeof paths === 'string' ? [paths] : paths)
  for (const file of files) {
    for await (const raw of readFileRecords(file, { ...opts, sources })) yield decodeRaw(raw)
  }
}
