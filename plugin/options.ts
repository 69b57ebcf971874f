// Plugin options: types, defaults and validation. Every problem is reported at registration
// with the option's name and what it accepts.
import type { ArchiveWriter, ArchiveWriterOptions } from '../lib/archive/writer.js'
import { CODEC_NAMES, type CodecName } from '../lib/format/codecs.js'
import { validateUploadOptions, type S3UploadOptions } from '../lib/s3/uploader.js'

export type RedactMode = 'remove' | 'mask' | 'hash'

export interface RedactOptions {
  /** Header names (any case). Default in plugin mode: authorization, proxy-authorization, cookie, set-cookie, x-api-key. */
  headers?: string[]
  /** Query parameter names (exact, after URL decoding). Default: none. */
  query?: string[]
  /** Keys in JSON bodies, at any depth. Default: none. */
  jsonKeys?: string[]
  /** What happens to a secret: removed, replaced by `mask`, or replaced by an HMAC of it. Default `mask`. */
  mode?: RedactMode
  /** Replacement text in `mask` mode. Default `[REDACTED]`. */
  mask?: string
  /** Key for `hash` mode (HMAC-SHA256); required there. */
  hashKey?: string | Buffer
}

export interface MatchOptions {
  /** HTTP methods (any case). */
  methods?: string[]
  /** URL prefixes (strings) or patterns (RegExp) tested against the request target. */
  urls?: Array<string | RegExp>
}

/** The archive writer's options the plugin passes through (documented in ArchiveWriterOptions). */
export type ArchiveOptions = Partial<Pick<ArchiveWriterOptions,
  'codec' | 'batchBytes' | 'flushMs' | 'rotateBytes' | 'rotateMs' | 'retainBytes' | 'retainFiles' | 'fsync' |
  'maxPendingBytes' | 'blockChecksum' | 'recover' | 'compressThread'>>

export interface BlackholeOptions extends ArchiveOptions {
  /** Directory for archive files. Required unless `writer` is given. */
  dir?: string
  /** Use this writer instead of creating one (the plugin then does not close it). */
  writer?: ArchiveWriter
  /** Fraction of requests recorded, 0 to 1. Default 1. */
  sample?: number
  /** Consistent sampling: the same client is always in or always out. */
  sampleBy?: 'ip' | { header: string }
  /** At most this many records per second (0: no cap). Default 0. */
  maxPerSecond?: number
  /** Record only requests matching these (all given criteria must match). */
  include?: MatchOptions
  /** Never record requests matching these (either criterion suffices). */
  exclude?: MatchOptions
  /** Secrets to keep out of archives. `false` records everything as received. */
  redact?: RedactOptions | false
  /** Bodies longer than this are stored truncated (flagged, original length kept). Default 1 MiB. */
  maxBodyBytes?: number
  /**
   * Body bytes held at once by requests still being captured, all together. Past it, bodies
   * are stored truncated (flagged, original length kept), so memory does not grow with
   * connections × maxBodyBytes. Default 64 MiB.
   */
  maxCaptureBytes?: number
  /** Store the response status and time in each record. Default true. */
  recordResponse?: boolean
  /** Header whose value becomes the record id. Default `x-request-id`. */
  idHeader?: string
  /** Header that overrides the recorded URI (mirror setups). Default `x-original-uri`; `false` disables. */
  originalUriHeader?: string | false
  /** At most one log line per kind of problem per this many ms. Default 10000. */
  logIntervalMs?: number
  /**
   * Upload each sealed file to S3-compatible storage (`s3://bucket/prefix`, or the options
   * object) and remove it from `dir`, which becomes a staging directory. See docs/scaling.md.
   */
  upload?: string | S3UploadOptions
}

export const DEFAULT_REDACT_HEADERS = ['authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'x-api-key']

export interface ResolvedRedact {
  headers: Set<string>
  query: Set<string>
  jsonKeys: Set<string>
  mode: RedactMode
  mask: string
  hashKey: Buffer | null
}

export interface ResolvedOptions {
  sample: number
  sampleBy: null | 'ip' | string
  maxPerSecond: number
  include: ResolvedMatch | null
  exclude: ResolvedMatch | null
  redact: ResolvedRedact | null
  maxBodyBytes: number
  maxCaptureBytes: number
  recordResponse: boolean
  idHeader: string
  originalUriHeader: string | null
  logIntervalMs: number
  upload: S3UploadOptions | null
}

export interface ResolvedMatch {
  methods: Set<string> | null
  prefixes: string[]
  patterns: RegExp[]
}

export class BlackholeOptionError extends TypeError {
  constructor (option: string, accepted: string, got: unknown) {
    super(`fastify-blackhole: option "${option}" must be ${accepted}, got ${describe(got)}`)
    this.name = 'BlackholeOptionError'
  }
}

function describe (v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v)
  if (v instanceof RegExp) return String(v)
  try {
    return JSON.stringify(v) ?? String(v)
  } catch {
    return String(v)
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

function rate (name: string, v: unknown): number {
  if (typeof v !== 'number' || !(v >= 0 && v <= 1)) throw new BlackholeOptionError(name, 'a number from 0 to 1', v)
  return v
}

function int (name: string, v: unknown, min: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) throw new BlackholeOptionError(name, `an integer >= ${min}`, v)
  return v
}

function stringList (name: string, v: unknown): string[] {
  if (!Array.isArray(v) || !v.every(s => typeof s === 'string' && s.length > 0)) throw new BlackholeOptionError(name, 'an array of non-empty strings', v)
  return v
}

function headerName (name: string, v: unknown): string {
  if (typeof v !== 'string' || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(v)) throw new BlackholeOptionError(name, 'an HTTP header name', v)
  return v.toLowerCase()
}

function match (name: string, v: unknown): ResolvedMatch | null {
  if (v === undefined) return null
  if (!isObject(v)) throw new BlackholeOptionError(name, 'an object { methods?, urls? }', v)
  for (const k of Object.keys(v)) if (k !== 'methods' && k !== 'urls') throw new BlackholeOptionError(`${name}.${k}`, 'absent (known keys: methods, urls)', v[k])
  const methods = v.methods === undefined ? null : new Set(stringList(`${name}.methods`, v.methods).map(m => m.toUpperCase()))
  const prefixes: string[] = []
  const patterns: RegExp[] = []
  if (v.urls !== undefined) {
    if (!Array.isArray(v.urls)) throw new BlackholeOptionError(`${name}.urls`, 'an array of strings (prefixes) and RegExps', v.urls)
    for (const u of v.urls) {
      if (typeof u === 'string' && u.length > 0) prefixes.push(u)
      else if (u instanceof RegExp) patterns.push(new RegExp(u.source, u.flags.replace(/[gy]/g, '')))
      else throw new BlackholeOptionError(`${name}.urls`, 'an array of strings (prefixes) and RegExps', u)
    }
  }
  return { methods, prefixes, patterns }
}

function redact (v: unknown, defaults: string[]): ResolvedRedact | null {
  if (v === false) return null
  if (v !== undefined && !isObject(v)) throw new BlackholeOptionError('redact', 'an object or false', v)
  const r = (v ?? {}) as Record<string, unknown>
  const known = ['headers', 'query', 'jsonKeys', 'mode', 'mask', 'hashKey']
  for (const k of Object.keys(r)) if (!known.includes(k)) throw new BlackholeOptionError(`redact.${k}`, `absent (known keys: ${known.join(', ')})`, r[k])
  const mode = r.mode ?? 'mask'
  if (mode !== 'remove' && mode !== 'mask' && mode !== 'hash') throw new BlackholeOptionError('redact.mode', '"remove", "mask" or "hash"', mode)
  const mask = r.mask ?? '[REDACTED]'
  if (typeof mask !== 'string' || /[\r\n]/.test(mask)) throw new BlackholeOptionError('redact.mask', 'a string without line breaks', mask)
  let hashKey: Buffer | null = null
  if (r.hashKey !== undefined) {
    if (typeof r.hashKey === 'string' && r.hashKey.length > 0) hashKey = Buffer.from(r.hashKey)
    else if (Buffer.isBuffer(r.hashKey) && r.hashKey.length > 0) hashKey = r.hashKey
    else throw new BlackholeOptionError('redact.hashKey', 'a non-empty string or Buffer', r.hashKey)
  }
  if (mode === 'hash' && hashKey === null) throw new BlackholeOptionError('redact.hashKey', 'set when redact.mode is "hash"', undefined)
  const headers = r.headers === undefined ? defaults : stringList('redact.headers', r.headers).map((h, i) => headerName(`redact.headers[${i}]`, h))
  const query = r.query === undefined ? [] : stringList('redact.query', r.query)
  const jsonKeys = r.jsonKeys === undefined ? [] : stringList('redact.jsonKeys', r.jsonKeys)
  if (headers.length === 0 && query.length === 0 && jsonKeys.length === 0) return null
  return { headers: new Set(headers), query: new Set(query), jsonKeys: new Set(jsonKeys), mode, mask, hashKey }
}

const KNOWN = new Set([
  'dir', 'writer', 'codec', 'batchBytes', 'flushMs', 'rotateBytes', 'rotateMs', 'retainBytes', 'retainFiles', 'fsync',
  'maxPendingBytes', 'blockChecksum', 'recover', 'compressThread', 'sample', 'sampleBy', 'maxPerSecond', 'include', 'exclude', 'redact', 'maxBodyBytes', 'maxCaptureBytes',
  'recordResponse', 'idHeader', 'originalUriHeader', 'logIntervalMs', 'upload'
])

function upload (opts: BlackholeOptions): S3UploadOptions | null {
  if (opts.upload === undefined) return null
  const u = typeof opts.upload === 'string' ? { url: opts.upload } : opts.upload
  if (!isObject(u)) throw new BlackholeOptionError('upload', 'an s3://bucket/prefix URL or { url, endpoint?, ... }', u)
  // Uploading needs the writer's onSeal, and staged files are deleted only once uploaded.
  if (opts.writer !== undefined) throw new BlackholeOptionError('upload', 'absent when `writer` is given (the plugin must create the writer)', u)
  for (const k of ['retainBytes', 'retainFiles'] as const) {
    if ((opts[k] ?? 0) !== 0) throw new BlackholeOptionError(k, '0 with `upload` (a staged file is removed once uploaded, and never before)', opts[k])
  }
  try {
    validateUploadOptions(u, k => `option "upload${k === 'url' && typeof opts.upload === 'string' ? '' : '.' + k}"`)
  } catch (err) {
    throw new TypeError(`fastify-blackhole: ${(err as Error).message}`)
  }
  return u
}

/** Validates the options; the archive ones are checked again by ArchiveWriter. */
export function resolveOptions (opts: BlackholeOptions): ResolvedOptions {
  if (!isObject(opts)) throw new BlackholeOptionError('options', 'an object', opts)
  for (const k of Object.keys(opts)) {
    if (!KNOWN.has(k)) throw new BlackholeOptionError(k, `absent: it is not an option (known: ${[...KNOWN].join(', ')})`, (opts as Record<string, unknown>)[k])
  }
  if (opts.writer !== undefined) {
    const w = opts.writer as unknown as Record<string, unknown>
    if (!isObject(w) || !['record', 'append', 'flush', 'rotate', 'stats', 'listSealed'].every(m => typeof w[m] === 'function')) {
      throw new BlackholeOptionError('writer', 'an ArchiveWriter', opts.writer)
    }
  }
  if (opts.writer === undefined && (typeof opts.dir !== 'string' || opts.dir.length === 0)) {
    throw new BlackholeOptionError('dir', 'a directory path (or pass `writer`)', opts.dir)
  }
  if (opts.codec !== undefined && !CODEC_NAMES.includes(opts.codec as CodecName)) throw new BlackholeOptionError('codec', CODEC_NAMES.map(c => `"${c}"`).join(', '), opts.codec)
  let sampleBy: ResolvedOptions['sampleBy'] = null
  if (opts.sampleBy === 'ip') sampleBy = 'ip'
  else if (isObject(opts.sampleBy) && typeof opts.sampleBy.header === 'string') sampleBy = headerName('sampleBy.header', opts.sampleBy.header)
  else if (opts.sampleBy !== undefined) throw new BlackholeOptionError('sampleBy', '"ip" or { header: NAME }', opts.sampleBy)
  const originalUriHeader = opts.originalUriHeader === false ? null : headerName('originalUriHeader', opts.originalUriHeader ?? 'x-original-uri')
  if (opts.recordResponse !== undefined && typeof opts.recordResponse !== 'boolean') throw new BlackholeOptionError('recordResponse', 'a boolean', opts.recordResponse)
  return {
    sample: rate('sample', opts.sample ?? 1),
    sampleBy,
    maxPerSecond: int('maxPerSecond', opts.maxPerSecond ?? 0, 0),
    include: match('include', opts.include),
    exclude: match('exclude', opts.exclude),
    redact: redact(opts.redact, DEFAULT_REDACT_HEADERS),
    maxBodyBytes: int('maxBodyBytes', opts.maxBodyBytes ?? 1 << 20, 0),
    maxCaptureBytes: int('maxCaptureBytes', opts.maxCaptureBytes ?? 64 << 20, 0),
    recordResponse: opts.recordResponse ?? true,
    idHeader: headerName('idHeader', opts.idHeader ?? 'x-request-id'),
    originalUriHeader,
    logIntervalMs: int('logIntervalMs', opts.logIntervalMs ?? 10_000, 0),
    upload: upload(opts)
  }
}

/** Route-level `config.blackhole`: false, or { sample }. */
export function resolveRouteConfig (route: string, v: unknown): false | { sample: number } | undefined {
  if (v === undefined || v === true) return undefined
  if (v === false) return false
  if (isObject(v) && Object.keys(v).every(k => k === 'sample')) return { sample: rate(`config.blackhole.sample (route ${route})`, v.sample ?? 1) }
  throw new BlackholeOptionError(`config.blackhole (route ${route})`, 'false or { sample: 0..1 }', v)
}
