// Every error this package throws on purpose, in one place. Each carries a stable `code`
// (Fastify's style: `FST_BLACKHOLE_…`); callers branch on the code, never on the message,
// which is for people and may change. docs/architecture.md lists the codes.
import createError from '@fastify/error'

/** An error made by @fastify/error: `new X(message)` or `new X(message, { cause })`. */
export interface CodedError extends Error {
  readonly code: string
  readonly statusCode?: number
}
export type CodedErrorClass = new (message: string, options?: { cause: unknown }) => CodedError

// Each class's message is the text given to it: the call site says what happened and where.
const coded = (code: string, Base: ErrorConstructor | TypeErrorConstructor = Error): CodedErrorClass =>
  createError(code, '%s', 500, Base as ErrorConstructor) as unknown as CodedErrorClass

/** A plugin, writer, uploader or preset option that is not valid (thrown at registration or construction). */
export const OptionError = coded('FST_BLACKHOLE_OPTION', TypeError)
/** A bad command line or environment variable of the `blackhole` command: one line, exit 2. */
export const UsageError = coded('FST_BLACKHOLE_USAGE')
/** The archive directory cannot be created or written. */
export const ArchiveDirError = coded('FST_BLACKHOLE_ARCHIVE_DIR')
/** The plugin is registered twice in one encapsulation context. */
export const AlreadyRegisteredError = coded('FST_BLACKHOLE_ALREADY_REGISTERED')
/** A codec named in the options is not installed, or not a codec. */
export const CodecError = coded('FST_BLACKHOLE_CODEC')
/** An optional package a feature needs (the AWS SDK for s3:// URLs) is not installed. */
export const MissingPackageError = coded('FST_BLACKHOLE_MISSING_PACKAGE')
/** Uploading to object storage cannot start or an upload failed. */
export const UploadError = coded('FST_BLACKHOLE_UPLOAD')
/** The compression thread failed; the writer falls back to compressing on the calling thread. */
export const CompressThreadError = coded('FST_BLACKHOLE_COMPRESS_THREAD')
/** A FlatBuffers record that does not decode. */
export const RecordFormatError = coded('FST_BLACKHOLE_RECORD_FORMAT')
/** An LZ4 block that does not decode. */
export const CorruptBlockError = coded('FST_BLACKHOLE_CORRUPT_BLOCK')
/** An LZ4 frame header that is not valid or not supported. */
export const FrameHeaderError = coded('FST_BLACKHOLE_FRAME_HEADER')
/** A HAR or JSON Lines input that cannot be imported; nothing was written. */
export const ImportError = coded('FST_BLACKHOLE_IMPORT')
/** Replay options that are not valid, or records that cannot be replayed as asked. */
export const ReplayError = coded('FST_BLACKHOLE_REPLAY', TypeError)

/** An admin route's request that is refused; `statusCode` is the answer's status. */
export class HttpError extends Error {
  readonly code = 'FST_BLACKHOLE_HTTP'
  constructor (readonly statusCode: number, message: string) {
    super(message)
    this.name = 'HttpError'
  }
}

/** What is wrong with an archive, from the reader: the part after `FST_BLACKHOLE_ARCHIVE_`. */
export type ArchiveErrorKind =
  | 'TRUNCATED' // the file ends inside a frame, block or record (a crash or a cut copy)
  | 'CORRUPT' // structure that cannot be valid (bad header, block, garbage)
  | 'CHECKSUM' // a block or content checksum does not match
  | 'TOO_LARGE' // a record length prefix over the limit
  | 'BAD_RECORD' // a record whose FlatBuffer does not decode
  | 'IO' // the file could not be read

export type ArchiveErrorCode = `FST_BLACKHOLE_ARCHIVE_${ArchiveErrorKind}`

/** A problem found reading an archive, naming the file and the byte offset where it was found. */
export class ArchiveError extends Error {
  readonly code: ArchiveErrorCode
  readonly kind: ArchiveErrorKind
  readonly file: string
  /** Byte offset in the file (for compressed files: of the frame or block concerned). */
  readonly offset: number
  /** Offset in the decompressed record stream, when the problem is about a record. */
  readonly streamOffset: number | undefined

  constructor (kind: ArchiveErrorKind, file: string, offset: number, message: string, streamOffset?: number) {
    const where = kind === 'IO' && offset === 0
      ? ''
      : streamOffset === undefined ? `offset ${offset}: ` : `offset ${offset} (record stream offset ${streamOffset}): `
    super(`${file}: ${where}${kind === 'TRUNCATED' ? 'truncated: ' : ''}${message}`)
    this.name = 'ArchiveError'
    this.code = `FST_BLACKHOLE_ARCHIVE_${kind}`
    this.kind = kind
    this.file = file
    this.offset = offset
    this.streamOffset = streamOffset
  }
}

/** A HAR entry that cannot be turned into a record; `index` is its position in `log.entries`. */
export class HarEntryError extends coded('FST_BLACKHOLE_HAR_ENTRY') {
  constructor (readonly index: number, readonly detail: string) {
    super(`log.entries[${index}]: ${detail}`)
    this.name = 'HarEntryError'
  }
}

/** A JSON line that cannot be turned into a record; `line` is 1-based. */
export class JsonlLineError extends coded('FST_BLACKHOLE_JSONL_LINE') {
  constructor (readonly line: number, readonly detail: string) {
    super(`line ${line}: ${detail}`)
    this.name = 'JsonlLineError'
  }
}

/** True when `err` carries `code` (any error, ours or Node's). */
export function hasCode (err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code
}
