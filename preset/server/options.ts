// Options of the preset sink. They arrive typed from `blackhole serve`, or as strings from
// fastify-cli (`fastify start dist/preset/app.js -- --out ./x --sample 0.5`), so every value
// is accepted in both forms and checked once here.
import { CODEC_NAMES, type CodecName } from '../../lib/format/codecs.js'
import { WRITER_LIMITS as W } from '../../lib/archive/writer-options.js'
import { durationFlag, sizeFlag, UsageError } from '../cli/args.js'
import { isS3Url } from '../../lib/s3/url.js'
import { validateUploadOptions, type S3UploadOptions } from '../../lib/s3/uploader.js'

export interface PresetOptions {
  /** Record requests (false: pure sink). Default true. */
  record?: boolean | string
  /** Archive directory, or `s3://bucket/prefix` to upload sealed files there. Default `./archive`. */
  out?: string
  /** With an s3:// `out`: the local directory files are written to until uploaded. Default `./archive-staging`. */
  staging?: string
  /** With an s3:// `out`: endpoint of a non-AWS store. Default: the AWS SDK's. */
  s3Endpoint?: string
  /** With an s3:// `out`: path-style requests. Default: on when an endpoint is set. */
  s3ForcePathStyle?: boolean | string
  /** With an s3:// `out`: key level below the prefix. Default: the host name. */
  s3HostId?: string
  /** With an s3:// `out`: time allowed on close to upload what is sealed (ms or duration). Default 5 s. */
  uploadGraceMs?: number | string
  /** Largest body accepted; bigger ones get 413. Default 64 MiB. */
  bodyLimit?: number | string
  codec?: CodecName
  batchBytes?: number | string
  flushMs?: number | string
  rotateBytes?: number | string
  /** Seal files after this long (ms, or a duration string). Default 10 min. */
  rotateMs?: number | string
  retainBytes?: number | string
  fsync?: boolean | string
  blockChecksum?: boolean | string
  recover?: boolean | string
  sample?: number | string
  redactHeaders?: string[] | string
  /** Serve the admin routes under adminPrefix. Default true. */
  admin?: boolean | string
  adminPrefix?: string
  /** Bearer token for the replay routes; without it they do not exist. */
  adminToken?: string
  /** `host:port` patterns (with `*`) replay jobs may target. */
  replayAllow?: string[] | string
  /** Replay jobs running at once. Default 1. */
  replayMaxJobs?: number | string
  /** Stats line interval (ms or duration); 0 disables. Default 10 s. */
  statsIntervalMs?: number | string
  /** Fixed response instead of an empty 200. */
  response?: { status?: number, headers?: Record<string, string>, body?: string }
}

export interface ResolvedPresetOptions {
  record: boolean
  /** The local archive directory: the staging directory when uploading. */
  out: string
  /** Where sealed files are uploaded, or null. */
  upload: S3UploadOptions | null
  bodyLimit: number
  codec: CodecName
  batchBytes: number
  flushMs: number
  rotateBytes: number
  rotateMs: number
  retainBytes: number
  fsync: boolean
  blockChecksum: boolean
  recover: boolean
  sample: number
  redactHeaders: string[]
  admin: boolean
  adminPrefix: string
  adminToken: string
  replayAllow: string[]
  replayMaxJobs: number
  statsIntervalMs: number
  response: { status: number, headers: Record<string, string>, body: string }
}

function bool (name: string, v: unknown, dflt: boolean): boolean {
  if (v === undefined) return dflt
  if (typeof v === 'boolean') return v
  if (typeof v === 'string' && /^(true|false|1|0|yes|no)$/i.test(v)) return /^(true|1|yes)$/i.test(v)
  throw new UsageError(`--${name} must be true or false, got '${String(v)}'`)
}

const kebab = (s: string): string => s.replace(/[A-Z]/g, c => '-' + c.toLowerCase())

const UPLOAD_FLAGS: Record<string, string> = { url: '--out', endpoint: '--s3-endpoint', forcePathStyle: '--s3-force-path-style', hostId: '--s3-host-id', closeTimeoutMs: '--upload-grace-ms' }

function uploadOptions (opts: PresetOptions, retainBytes: number): S3UploadOptions | null {
  const out = opts.out ?? './archive'
  if (!isS3Url(out)) {
    for (const k of ['staging', 's3Endpoint', 's3ForcePathStyle', 's3HostId'] as const) {
      if (opts[k] !== undefined) throw new UsageError(`--${kebab(k)} only applies when --out is an s3:// URL`)
    }
    return null
  }
  // Every file in staging is one not uploaded yet: retention could only delete those.
  if (retainBytes !== 0) throw new UsageError('--retain-bytes cannot be used with an s3:// --out (staged files are removed once uploaded, never before)')
  if (opts.staging === '') throw new UsageError('--staging must be a directory')
  const u: S3UploadOptions = {
    url: out,
    ...(opts.s3Endpoint !== undefined ? { endpoint: opts.s3Endpoint } : {}),
    ...(opts.s3ForcePathStyle !== undefined ? { forcePathStyle: bool('s3-force-path-style', opts.s3ForcePathStyle, false) } : {}),
    ...(opts.s3HostId !== undefined ? { hostId: opts.s3HostId } : {}),
    ...(opts.uploadGraceMs !== undefined ? { closeTimeoutMs: durationFlag('upload-grace-ms', opts.uploadGraceMs) } : {})
  }
  try {
    validateUploadOptions(u, k => UPLOAD_FLAGS[k] ?? k)
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
  return u
}

export function normalizePresetOptions (opts: PresetOptions = {}): ResolvedPresetOptions {
  const n = (key: keyof PresetOptions, dflt: number, parse: (name: string, v: unknown, min?: number) => number, min = 0): number =>
    opts[key] === undefined ? dflt : parse(kebab(key), opts[key], min)
  const codec = (opts.codec ?? 'auto') as CodecName
  if (!CODEC_NAMES.includes(codec)) throw new UsageError(`--codec must be one of ${CODEC_NAMES.join(', ')}, got '${String(codec)}'`)
  const sample = opts.sample === undefined ? 1 : Number(opts.sample)
  if (!(sample >= 0 && sample <= 1) || String(opts.sample ?? 1).trim() === '') throw new UsageError(`--sample must be a number from 0 to 1, got '${String(opts.sample)}'`)
  const adminPrefix = opts.adminPrefix ?? '/_blackhole'
  if (!/^\/[A-Za-z0-9._~-]+$/.test(adminPrefix)) throw new UsageError(`--admin-prefix must look like /_blackhole, got '${adminPrefix}'`)
  const redact = opts.redactHeaders === undefined ? [] : Array.isArray(opts.redactHeaders) ? opts.redactHeaders : opts.redactHeaders.split(',')
  for (const h of redact) if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(h)) throw new UsageError(`--redact-header must be a header name, got '${h}'`)
  const adminToken = opts.adminToken ?? ''
  if (adminToken !== '' && adminToken.length < 16) throw new UsageError('--admin-token must be at least 16 characters')
  const replayAllow = opts.replayAllow === undefined ? [] : Array.isArray(opts.replayAllow) ? opts.replayAllow : opts.replayAllow.split(',').map(x => x.trim()).filter(Boolean)
  for (const p of replayAllow) if (!/^[^:\s]+:(\d+|\*)$/.test(p) && !/^\[[^\]]+\]:(\d+|\*)$/.test(p)) throw new UsageError(`--replay-allow must look like host:port (with * wildcards), got '${p}'`)
  const replayMaxJobs = opts.replayMaxJobs === undefined ? 1 : Number(opts.replayMaxJobs)
  if (!Number.isInteger(replayMaxJobs) || replayMaxJobs < 1 || replayMaxJobs > 100) throw new UsageError(`--replay-max-jobs must be an integer from 1 to 100, got '${String(opts.replayMaxJobs)}'`)
  const retainBytes = n('retainBytes', 0, sizeFlag)
  const upload = uploadOptions(opts, retainBytes)
  const status = opts.response?.status ?? 200
  if (!Number.isInteger(status) || status < 200 || status > 599) throw new UsageError(`--response-status must be an integer from 200 to 599, got '${status}'`)
  return {
    record: bool('record', opts.record, true),
    out: upload !== null ? opts.staging ?? './archive-staging' : opts.out ?? './archive',
    upload,
    bodyLimit: n('bodyLimit', 64 << 20, sizeFlag, 1),
    codec,
    batchBytes: n('batchBytes', W.batchBytes.default, sizeFlag, W.batchBytes.min),
    // The sink always flushes on time: the crash-loss bound (docs/reliability.md) rests on it.
    flushMs: n('flushMs', W.flushMs.default, durationFlag, 1),
    rotateBytes: n('rotateBytes', W.rotateBytes.default, sizeFlag, W.rotateBytes.min),
    rotateMs: n('rotateMs', W.rotateMs.default, durationFlag),
    retainBytes,
    fsync: bool('fsync', opts.fsync, false),
    blockChecksum: bool('block-checksum', opts.blockChecksum, false),
    recover: bool('recover', opts.recover, true),
    sample,
    redactHeaders: redact.map(h => h.toLowerCase()),
    admin: bool('admin', opts.admin, true),
    adminPrefix,
    adminToken,
    replayAllow,
    replayMaxJobs,
    statsIntervalMs: n('statsIntervalMs', 10_000, durationFlag),
    response: { status, headers: opts.response?.headers ?? {}, body: opts.response?.body ?? '' }
  }
}
