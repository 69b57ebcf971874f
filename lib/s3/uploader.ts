// Ships sealed archive files from a local staging directory to S3-compatible storage. The
// writer stays exactly as it is; each sealed file is queued (the writer's onSeal), uploaded
// with lib-storage's Upload (multipart past partSize, CRC32 checksum on every request), checked
// against an MD5 computed here while reading, and only then deleted. Nothing sealed is lost to
// a store outage or a crash: a failed file stays queued (exponential backoff), and files left
// in staging are found again at the next start and by a periodic rescan.
import { createHash, type Hash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { readdir, stat, unlink } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { Transform, type TransformCallback } from 'node:stream'
import type { S3Client } from '@aws-sdk/client-s3'
import type { Upload } from '@aws-sdk/lib-storage'
import { RateLimitedLog, silentLogger, type Logger } from '../log.js'
import { isAlive } from '../archive/recover.js'
import { isArchiveName, writerPid } from '../format/archive-name.js'
import { OptionError, UploadError } from '../errors.js'
import { createS3Client, loadS3Sdk, loadS3Storage, validateS3ClientOptions, type S3ClientOptions } from './client.js'
import { parseS3Url, s3Url } from './url.js'

export interface S3UploadOptions extends S3ClientOptions {
  /** `s3://bucket/prefix`: files go to `prefix/<hostId>/<file name>`. */
  url: string
  /** Key level that keeps the files of many sinks apart. Default: the host name. */
  hostId?: string
  /** Multipart part size, 5 MiB at least. Default 8 MiB. */
  partSize?: number
  /** First retry delay after a failed upload; doubles up to retryMaxMs. Default 1000. */
  retryMinMs?: number
  /** Longest retry delay. Default 60000. */
  retryMaxMs?: number
  /** How often the staging directory is scanned for files left by dead processes. Default 60000; 0: only at start. */
  rescanMs?: number
  /** On close, time allowed for the queue to empty; what is left stays for the next start. Default 5000. */
  closeTimeoutMs?: number
}

export interface UploadStats {
  /** `s3://bucket/prefix/hostId/` */
  target: string
  /** Files uploaded, confirmed and removed from staging. */
  uploaded: number
  uploadedBytes: number
  /** Failed upload attempts (each is retried). */
  failures: number
  /** Files waiting in staging (the one in flight included). */
  pending: number
  pendingBytes: number
  /** Uploads confirmed by size only: the store's ETag is not an MD5 (SSE-KMS, some stores). */
  unverifiedEtags: number
  lastError: string | null
  lastUploadAt: string | null
}

const MIN_PART = 5 << 20

/** Checks the options, naming them as `name(key)` does (plugin or CLI spelling). */
export function validateUploadOptions (o: S3UploadOptions, name: (k: string) => string): void {
  if (typeof o.url !== 'string') throw new OptionError(`${name('url')} must be an s3://bucket/prefix URL, got ${String(o.url)}`)
  parseS3Url(o.url, name('url'))
  validateS3ClientOptions(o, name)
  if (o.hostId !== undefined && (typeof o.hostId !== 'string' || !/^[A-Za-z0-9._-]{1,128}$/.test(o.hostId))) {
    throw new OptionError(`${name('hostId')} must match [A-Za-z0-9._-]{1,128}, got '${String(o.hostId)}'`)
  }
  const int = (k: keyof S3UploadOptions, min: number): void => {
    const v = o[k]
    if (v !== undefined && (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min)) throw new OptionError(`${name(k)} must be an integer >= ${min}, got ${String(v)}`)
  }
  int('partSize', MIN_PART)
  int('retryMinMs', 1)
  int('retryMaxMs', 1)
  int('rescanMs', 0)
  int('closeTimeoutMs', 0)
}

export function defaultHostId (): string {
  return os.hostname().replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 128) || 'host'
}

/** MD5 of the whole file and of each part, as stores compute ETags (single and multipart). */
class Md5Tap extends Transform {
  readonly whole = createHash('md5')
  readonly parts: Buffer[] = []
  #part: Hash = createHash('md5')
  #inPart = 0

  constructor (private readonly partSize: number) {
    super()
  }

  override _transform (chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.whole.update(chunk)
    let at = 0
    while (at < chunk.length) {
      const n = Math.min(chunk.length - at, this.partSize - this.#inPart)
      this.#part.update(chunk.subarray(at, at + n))
      this.#inPart += n
      at += n
      if (this.#inPart === this.partSize) {
        this.parts.push(this.#part.digest())
        this.#part = createHash('md5')
        this.#inPart = 0
      }
    }
    cb(null, chunk)
  }

  override _flush (cb: TransformCallback): void {
    if (this.#inPart > 0) this.parts.push(this.#part.digest())
    cb()
  }

  etags (): string[] {
    const whole = this.whole.digest('hex')
    const multi = createHash('md5').update(Buffer.concat(this.parts)).digest('hex') + '-' + this.parts.length
    return [whole, multi]
  }
}

interface Item {
  path: string
  bytes: number
}

/** The staged file is gone (another process uploaded it): caught in #run, never leaves this module, so it needs no code. */
class Vanished extends Error {}

export class S3Uploader {
  readonly dir: string
  readonly bucket: string
  readonly keyPrefix: string
  readonly #o: Required<Pick<S3UploadOptions, 'partSize' | 'retryMinMs' | 'retryMaxMs' | 'rescanMs' | 'closeTimeoutMs'>>
  readonly #clientOptions: S3ClientOptions
  readonly #filePrefix: string
  readonly #log: RateLimitedLog
  #client: S3Client | null = null
  readonly #queue: Item[] = []
  readonly #known = new Set<string>()
  #inFlight: Upload | null = null
  #loop: Promise<void> | null = null
  #wake: (() => void) | null = null
  #rescanTimer: NodeJS.Timeout | null = null
  #closing = false
  #deadline = Infinity
  #consecutiveFailures = 0
  #stats = { uploaded: 0, uploadedBytes: 0, failures: 0, unverifiedEtags: 0, lastError: null as string | null, lastUploadAt: null as string | null }

  constructor (opts: { dir: string, upload: S3UploadOptions, filePrefix?: string, logger?: Logger, logIntervalMs?: number }) {
    const u = opts.upload
    validateUploadOptions(u, k => `upload option "${k}"`)
    this.dir = path.resolve(opts.dir)
    const { bucket, prefix } = parseS3Url(u.url)
    this.bucket = bucket
    this.keyPrefix = `${prefix}${prefix === '' || prefix.endsWith('/') ? '' : '/'}${u.hostId ?? defaultHostId()}/`
    this.#o = {
      partSize: u.partSize ?? 8 << 20,
      retryMinMs: u.retryMinMs ?? 1000,
      retryMaxMs: u.retryMaxMs ?? 60_000,
      rescanMs: u.rescanMs ?? 60_000,
      closeTimeoutMs: u.closeTimeoutMs ?? 5000
    }
    this.#clientOptions = { endpoint: u.endpoint, forcePathStyle: u.forcePathStyle, region: u.region, requestTimeoutMs: 120_000 }
    this.#filePrefix = opts.filePrefix ?? 'requests'
    this.#log = new RateLimitedLog(opts.logger ?? silentLogger, opts.logIntervalMs ?? 10_000)
  }

  get target (): string {
    return s3Url(this.bucket, this.keyPrefix)
  }

  /**
   * Loads the SDK, queues the sealed files already in staging and starts uploading. Call it
   * after the writer's recovery (`writer.ready()`), so recovered files are taken too. The store
   * is not contacted here: an outage at start only shows as upload failures.
   */
  async start (): Promise<void> {
    this.#client = await createS3Client(this.#clientOptions)
    await loadS3Storage()
    await this.rescan()
    if (this.#o.rescanMs > 0) {
      this.#rescanTimer = setInterval(() => { this.rescan().catch(() => {}) }, this.#o.rescanMs)
      this.#rescanTimer.unref()
    }
    this.#kick()
  }

  /** Queues a sealed file (the writer's onSeal). Queuing a file twice is harmless. */
  enqueue (file: string, bytes = 0): void {
    const p = path.resolve(file)
    if (this.#known.has(p) || this.#closing) return
    this.#known.add(p)
    this.#queue.push({ path: p, bytes })
    this.#kick()
  }

  /**
   * Queues sealed files in staging that nobody is uploading: this process's, and those of
   * processes that are gone (a crash, or a previous run). Files of live sibling workers are
   * theirs to upload.
   */
  async rescan (): Promise<void> {
    let names: string[]
    try {
      names = (await readdir(this.dir)).sort()
    } catch (err) {
      this.#log.error('rescan', `cannot list the staging directory ${this.dir}`, err as Error)
      return
    }
    for (const name of names) {
      const pid = isArchiveName(name) ? writerPid(name, this.#filePrefix) : null
      if (pid === null || (pid !== process.pid && isAlive(pid))) continue
      const p = path.join(this.dir, name)
      if (this.#known.has(p)) continue
      try {
        this.enqueue(p, (await stat(p)).size)
      } catch {
        // Taken and removed by another process meanwhile.
      }
    }
  }

  #kick (): void {
    if (this.#client === null) return
    if (this.#wake !== null) {
      const w = this.#wake
      this.#wake = null
      w()
    }
    this.#loop ??= this.#run().finally(() => { this.#loop = null })
  }

  async #run (): Promise<void> {
    while (Date.now() < this.#deadline) {
      const item = this.#queue[0]
      if (item === undefined) {
        if (this.#closing) return
        await new Promise<void>(resolve => { this.#wake = resolve })
        continue
      }
      try {
        await this.#upload(item)
        this.#consecutiveFailures = 0
        this.#queue.shift()
      } catch (err) {
        this.#queue.shift()
        if (err instanceof Vanished) {
          this.#known.delete(item.path)
          continue
        }
        // To the back: one bad file must not hold up the others.
        this.#queue.push(item)
        if (this.#closing && Date.now() >= this.#deadline) {
          this.#log.logger.warn({ file: item.path, pending: this.#queue.length }, 'upload time at close is over: files left in staging go up at the next start')
          return
        }
        this.#stats.failures++
        const msg = (err as Error).message || (err as Error).name
        this.#stats.lastError = `${path.basename(item.path)}: ${msg}`
        this.#log.error('upload', `upload of ${path.basename(item.path)} to ${this.target} failed (${msg}); kept in staging, will retry`, err as Error)
        const delay = Math.min(this.#o.retryMaxMs, this.#o.retryMinMs * 2 ** Math.min(this.#consecutiveFailures++, 30))
        await this.#sleep(delay * (0.75 + Math.random() * 0.5))
      }
    }
  }

  #sleep (ms: number): Promise<void> {
    return new Promise(resolve => {
      const t = setTimeout(done, Math.min(ms, Math.max(0, this.#deadline - Date.now())))
      t.unref()
      function done (): void {
        clearTimeout(t)
        resolve()
      }
      this.#wakeSleep = done
    })
  }

  #wakeSleep: (() => void) | null = null

  async #upload (item: Item): Promise<void> {
    const client = this.#client as S3Client
    let size: number
    try {
      size = (await stat(item.path)).size
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new Vanished()
      throw err
    }
    item.bytes = size
    const key = this.keyPrefix + path.basename(item.path)
    const file = createReadStream(item.path)
    const tap = new Md5Tap(this.#o.partSize)
    const opened = new Promise<void>((resolve, reject) => {
      file.once('open', () => resolve())
      file.once('error', reject)
    })
    try {
      await opened
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new Vanished()
      throw err
    }
    file.on('error', err => tap.destroy(err))
    file.pipe(tap)
    const { Upload } = await loadS3Storage()
    // lib-storage cuts the stream into part-sized buffers, so every request has a known length
    // and a header checksum (no aws-chunked trailer, which older stores would store verbatim).
    const up = new Upload({
      client,
      params: { Bucket: this.bucket, Key: key, Body: tap, ContentType: 'application/octet-stream', ChecksumAlgorithm: 'CRC32' },
      partSize: this.#o.partSize,
      queueSize: 2,
      leavePartsOnError: false
    })
    this.#inFlight = up
    let etag: string
    try {
      const res = await up.done()
      etag = (res.ETag ?? '').replace(/"/g, '').toLowerCase()
    } finally {
      this.#inFlight = null
      file.destroy()
    }
    if (!tap.etags().includes(etag)) {
      // Not an MD5 ETag (SSE-KMS, some stores) or a damaged object: the size decides, and the
      // per-request CRC32 checksums the store checked already cover the bytes.
      const { HeadObjectCommand } = await loadS3Sdk()
      const head = await client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }))
      if (head.ContentLength !== size) throw new UploadError(`uploaded object ${s3Url(this.bucket, key)} has ${String(head.ContentLength)} bytes, the file ${size}`)
      this.#stats.unverifiedEtags++
      this.#log.warn('etag', `ETag of ${s3Url(this.bucket, key)} is not the MD5 of the file; confirmed by size and the request checksums`)
    }
    try {
      await unlink(item.path)
    } catch (err) {
      // Another process (a sibling worker rescanning) uploaded and removed it too: same bytes, same key.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    }
    this.#known.delete(item.path)
    this.#stats.uploaded++
    this.#stats.uploadedBytes += size
    this.#stats.lastUploadAt = new Date().toISOString()
  }

  stats (): UploadStats {
    return {
      target: this.target,
      ...this.#stats,
      pending: this.#queue.length,
      pendingBytes: this.#queue.reduce((s, i) => s + i.bytes, 0)
    }
  }

  /**
   * Uploads what is queued for at most `timeoutMs` (default: the closeTimeoutMs option), then
   * stops; an upload still running is aborted and its file stays in staging for the next start.
   */
  async close (timeoutMs = this.#o.closeTimeoutMs): Promise<void> {
    this.#closing = true
    if (this.#rescanTimer !== null) clearInterval(this.#rescanTimer)
    this.#deadline = Date.now() + timeoutMs
    this.#wakeSleep?.()
    this.#kick()
    const timer = setTimeout(() => {
      this.#wakeSleep?.()
      this.#inFlight?.abort().catch(() => {})
    }, timeoutMs)
    try {
      while (this.#loop !== null) await this.#loop
    } finally {
      clearTimeout(timer)
      this.#client?.destroy()
    }
  }
}
