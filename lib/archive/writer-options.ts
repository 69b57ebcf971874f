// The archive writer's options: defaults and bounds, the one place they are written. The
// writer resolves its options here once; the plugin and the preset take their limits from here.
import type { CodecName } from '../format/codecs.js'
import type { Logger } from '../log.js'
import { OptionError } from '../errors.js'

export interface ArchiveWriterOptions {
  /** Directory for the archive files; created (mode 0700) when missing. */
  dir: string
  /** Block codec: `auto` (the fastest installed: liblz4, lz4-napi, lz4js), one of those by name, or `none` for raw `.fbf`. Default `auto`. */
  codec?: CodecName
  /**
   * Compress on the process's compression thread instead of the calling thread. Default true;
   * it needs the native xxhash addon of the `lz4` package when content checksums are on, and
   * falls back to the calling thread without it (or if the thread fails).
   */
  compressThread?: boolean
  /** A batch is compressed and written when it holds this many bytes. Default 1 MiB, at least 512. */
  batchBytes?: number
  /** A non-empty batch is written at least this often, in ms; 0 writes only full batches. Default 1000. */
  flushMs?: number
  /** Seal and start a new file past this many bytes on disk. Default 256 MiB, at least 512. */
  rotateBytes?: number
  /** Seal a file with records after this many ms. 0 disables. Default 600000 (10 min). */
  rotateMs?: number
  /** Delete the oldest sealed files while the directory holds more bytes than this. 0 = no limit. */
  retainBytes?: number
  /** Delete the oldest sealed files while there are more than this many. 0 = no limit. */
  retainFiles?: number
  /** fdatasync each file before it is renamed, and the directory after. Default false. */
  fsync?: boolean
  /** Bytes of records waiting to be written before new ones are dropped. Default 64 MiB. */
  maxPendingBytes?: number
  /**
   * xxh32 of every block, so each verifies alone. Default false: blackhole's reader
   * (pierrec/lz4 v4.1.14) checks block checksums against the decompressed data instead of the
   * stored block (its issue 223), so it rejects spec-conforming block checksums. Turn on when
   * no blackhole reader will read the files; ours and liblz4 accept both.
   */
  blockChecksum?: boolean
  /** xxh32 of the whole content at the end of the frame, as blackhole writes. Default true. */
  contentChecksum?: boolean
  /** Seal `.tmp` files left by dead processes when opening. Default true. */
  recover?: boolean
  /** File name prefix. Default `requests`. */
  prefix?: string
  /** pino-style logger (Fastify's `app.log` fits). Default: silent. */
  logger?: Logger
  /** At most one log line per kind of error per this many ms. Default 10000. */
  logIntervalMs?: number
  /** Called after each file is sealed. */
  onSeal?: (file: SealedFile) => void
  /** Seal synchronously at process exit if close() has not finished (e.g. process.exit on a second signal). Default true. */
  flushOnExit?: boolean
}

export interface SealedFile {
  path: string
  bytes: number
  records: number
}

/** Every option key, for callers that pass a subset of their own options through. */
export const WRITER_OPTION_KEYS = [
  'dir', 'codec', 'compressThread', 'batchBytes', 'flushMs', 'rotateBytes', 'rotateMs', 'retainBytes', 'retainFiles',
  'fsync', 'maxPendingBytes', 'blockChecksum', 'contentChecksum', 'recover', 'prefix', 'logger', 'logIntervalMs',
  'onSeal', 'flushOnExit'
] as const satisfies ReadonlyArray<keyof ArchiveWriterOptions>

const INTEGERS = {
  batchBytes: { default: 1 << 20, min: 512 },
  flushMs: { default: 1000, min: 0 },
  rotateBytes: { default: 256 << 20, min: 512 },
  rotateMs: { default: 600_000, min: 0 },
  retainBytes: { default: 0, min: 0 },
  retainFiles: { default: 0, min: 0 },
  maxPendingBytes: { default: 64 << 20, min: 1 },
  logIntervalMs: { default: 10_000, min: 0 }
} as const

/** Defaults and lowest values of the writer's numeric options. */
export const WRITER_LIMITS: Readonly<Record<keyof typeof INTEGERS, { readonly default: number, readonly min: number }>> = INTEGERS

const BOOLEANS = { fsync: false, blockChecksum: false, contentChecksum: true, recover: true, compressThread: true, flushOnExit: true } as const

export type ResolvedWriterOptions = { [K in keyof typeof INTEGERS]: number } & { [K in keyof typeof BOOLEANS]: boolean } & {
  dir: string
  codec: CodecName
  prefix: string
  logger: Logger | undefined
  onSeal: ((file: SealedFile) => void) | undefined
}

/** Fills in the defaults and checks every option, naming the first that is not valid. */
export function resolveWriterOptions (opts: ArchiveWriterOptions): ResolvedWriterOptions {
  const out: Record<string, unknown> = { dir: opts.dir, codec: opts.codec ?? 'auto', logger: opts.logger, onSeal: opts.onSeal }
  for (const [k, { default: d, min }] of Object.entries(INTEGERS)) {
    const v = opts[k as keyof typeof INTEGERS] ?? d
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) {
      throw new OptionError(`archive option "${k}" must be ${min === 0 ? 'a non-negative integer' : `a positive integer${min > 1 ? ` (at least ${min})` : ''}`}, got ${String(v)}`)
    }
    out[k] = v
  }
  for (const [k, d] of Object.entries(BOOLEANS)) {
    const v = opts[k as keyof typeof BOOLEANS] ?? d
    if (typeof v !== 'boolean') throw new OptionError(`archive option "${k}" must be a boolean, got ${String(v)}`)
    out[k] = v
  }
  const prefix = opts.prefix ?? 'requests'
  if (typeof prefix !== 'string' || !/^[A-Za-z0-9-]+$/.test(prefix)) throw new OptionError(`archive option "prefix" must match [A-Za-z0-9-]+, got ${String(prefix)}`)
  out.prefix = prefix
  return out as ResolvedWriterOptions
}
