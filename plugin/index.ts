// fastify-blackhole: records the requests of any Fastify app into blackhole-compatible
// archives, with sampling, filters and redaction. The app's own routes answer as usual.
import fp from 'fastify-plugin'
import { randomBytes } from 'node:crypto'
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import { ArchiveWriter, type WriterStats } from '../lib/archive/writer.js'
import { RateLimitedLog } from '../lib/log.js'
import { S3Uploader, type UploadStats } from '../lib/s3/uploader.js'
import type { RequestRecord } from '../lib/format/record.js'
import { startCapture, type Capture, type CaptureBudget } from './capture.js'
import { resolveOptions, resolveRouteConfig, type BlackholeOptions } from './options.js'
import { headerBlock, redactBody, redactUri } from './redact.js'
import { Sampler, type SkipReason } from './sampler.js'

export interface CaptureStats {
  /** Requests that reached the onRequest hook. */
  seen: number
  /** Records handed to the writer (the writer may still drop them: see `archive.dropped`). */
  recorded: number
  skipped: Record<SkipReason, number>
  /** Records whose body was cut at maxBodyBytes, by maxCaptureBytes or by an aborted request. */
  truncated: number
  /** Records cut short because maxCaptureBytes (bodies in flight, all together) was spent. */
  overBudget: number
  /** Requests whose client went away before the response. */
  aborted: number
  /** Bodies left out because they could not be redacted safely. */
  withheldBodies: number
  /** Unexpected errors inside capture (each costs at most its record). */
  errors: number
}

export interface BlackholeStats {
  capture: CaptureStats
  archive: WriterStats
  /** With the `upload` option: the uploads to object storage. */
  upload?: UploadStats
}

/** The `archive` decorator. */
export interface ArchiveService {
  readonly dir: string
  readonly writer: ArchiveWriter
  /** Records a request built by the caller (not subject to sampling or redaction). */
  record (r: RequestRecord): boolean
  /** Writes everything recorded so far to disk. */
  flush (): Promise<void>
  /** Seals the current file; the next record starts a new one. */
  rotate (): Promise<void>
  stats (): BlackholeStats
  /** Sealed archive files, oldest first. */
  listSealed (): Promise<Array<{ path: string, name: string, bytes: number, mtime: Date }>>
}

declare module 'fastify' {
  interface FastifyInstance {
    archive: ArchiveService
  }
  interface FastifyContextConfig {
    /** `false`: never record this route; `{ sample }`: its own sampling rate. */
    blackhole?: false | { sample: number }
  }
}

// request.routeOptions builds a new object on every access; the route's config object itself
// sits under Fastify's context symbol, found once by its description (routeOptions otherwise).
let kRouteContext: symbol | null | undefined
type RouteConfig = FastifyRequest['routeOptions']['config']
function routeConfig (request: FastifyRequest): RouteConfig | undefined {
  if (kRouteContext === undefined) {
    kRouteContext = Object.getOwnPropertySymbols(request).find(s => s.description === 'fastify.context') ?? null
  }
  const context = kRouteContext === null ? undefined : (request as unknown as Record<symbol, { config?: RouteConfig } | undefined>)[kRouteContext]
  return context !== undefined ? context.config : request.routeOptions.config
}

function headerValue (v: string | string[] | undefined): string | undefined {
  const s = Array.isArray(v) ? v[0] : v
  return s === undefined || s === '' ? undefined : s
}

const plugin: FastifyPluginAsync<BlackholeOptions> = async function fastifyBlackhole (fastify: FastifyInstance, opts: BlackholeOptions) {
  if (fastify.hasDecorator('archive')) {
    throw new Error('fastify-blackhole: this instance already has an "archive" decorator (the plugin is registered twice, or another plugin uses the name)')
  }
  const o = resolveOptions(opts)
  const ownWriter = opts.writer === undefined
  // Created before the writer so that its onSeal can queue every sealed file for upload.
  const uploader = o.upload === null
    ? null
    : new S3Uploader({ dir: opts.dir as string, upload: o.upload, logger: fastify.log, logIntervalMs: o.logIntervalMs })
  const writer = opts.writer ?? new ArchiveWriter({
    dir: opts.dir as string,
    codec: opts.codec,
    batchBytes: opts.batchBytes,
    flushMs: opts.flushMs,
    rotateBytes: opts.rotateBytes,
    rotateMs: opts.rotateMs,
    retainBytes: opts.retainBytes,
    retainFiles: opts.retainFiles,
    fsync: opts.fsync,
    compressThread: opts.compressThread,
    maxPendingBytes: opts.maxPendingBytes,
    blockChecksum: opts.blockChecksum,
    recover: opts.recover,
    logIntervalMs: opts.logIntervalMs,
    logger: fastify.log,
    ...(uploader !== null ? { onSeal: (f: { path: string, bytes: number }) => uploader.enqueue(f.path, f.bytes) } : {})
  })
  if (ownWriter) {
    try {
      await writer.ready()
    } catch (err) {
      await writer.close().catch(() => {})
      throw new Error(`fastify-blackhole: cannot use archive directory ${writer.dir}: ${(err as Error).message}`)
    }
  }
  // After the writer's recovery, so files it sealed from .tmp leftovers are uploaded too.
  if (uploader !== null) {
    try {
      await uploader.start()
    } catch (err) {
      await writer.close().catch(() => {})
      throw new Error(`fastify-blackhole: cannot start uploading to ${uploader.target}: ${(err as Error).message}`)
    }
  }

  const log = new RateLimitedLog(fastify.log, o.logIntervalMs)
  const sampler = new Sampler(o)
  // (overBudget is the budget's own count.)
  const stats: Omit<CaptureStats, 'overBudget'> = {
    seen: 0,
    recorded: 0,
    skipped: { route: 0, filter: 0, sample: 0, rate: 0 },
    truncated: 0,
    aborted: 0,
    withheldBodies: 0,
    errors: 0
  }
  const budget: CaptureBudget = { used: 0, max: o.maxCaptureBytes, overruns: 0 }
  // Wall-clock base for the monotonic clock: arrival times keep hrtime's precision.
  const epochBase = BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint()
  const timeResponse = o.recordResponse
  const idPrefix = randomBytes(4).toString('hex') + '-'
  let idSeq = 0

  // One record object, filled for each request: the writer has copied it into its batch when
  // record() returns, so nothing keeps it, and no object of 15 fields is made per request.
  const record: RequestRecord = {
    id: '',
    method: '',
    uri: '',
    headers: undefined,
    rawHeaders: undefined,
    latin1: true,
    body: null,
    timeNs: 0n,
    remoteAddr: undefined,
    remotePort: undefined,
    httpVersion: undefined,
    bodyLength: 0,
    bodyTruncated: false,
    responseStatus: undefined,
    responseTimeNs: undefined
  }

  function onCaptureDone (cap: Capture): void {
    try {
      const headers = cap.headers
      const r = o.redact
      let uri = (o.originalUriHeader !== null ? headerValue(headers[o.originalUriHeader]) : undefined) ?? cap.url
      if (r !== null) uri = redactUri(uri, r)
      let body: Buffer | null = cap.body()
      let truncated = cap.truncated
      if (r !== null) {
        const red = redactBody(body, headerValue(headers['content-type']), truncated, r)
        body = red.body
        if (red.withheld) {
          truncated = true
          stats.withheldBodies++
        }
      }
      if (truncated) stats.truncated++
      // (Without the response, a request is aborted when it ends before its body does.)
      if (cap.waitResponse ? !cap.responded : !cap.ended) stats.aborted++
      record.id = headerValue(headers[o.idHeader]) ?? idPrefix + (++idSeq).toString(36)
      record.method = cap.method
      record.uri = uri
      // Unredacted, the header block is written straight from rawHeaders into the batch.
      record.headers = r === null ? undefined : headerBlock(cap.rawHeaders, r, o.originalUriHeader)
      record.rawHeaders = cap.rawHeaders
      // Every string here comes from Node's HTTP parser, one char per byte.
      record.latin1 = r === null
      record.body = body
      record.timeNs = epochBase + cap.startNs
      record.remoteAddr = cap.remoteAddress
      record.remotePort = cap.remotePort
      record.httpVersion = cap.httpVersion
      record.bodyLength = cap.received
      record.bodyTruncated = truncated
      record.responseStatus = timeResponse && cap.responded ? cap.status : undefined
      record.responseTimeNs = timeResponse && cap.responded ? cap.endNs - cap.startNs : undefined
      if (writer.record(record)) stats.recorded++
    } catch (err) {
      stats.errors++
      log.error('capture', 'fastify-blackhole: could not record a request', err as Error)
    } finally {
      // The body (up to maxBodyBytes) and header strings are not held until the next request.
      record.body = null
      record.rawHeaders = undefined
      record.headers = undefined
    }
  }

  function onRequest (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
    try {
      stats.seen++
      let rc = routeConfig(request)?.blackhole
      if (rc !== undefined && rc !== false && (typeof rc !== 'object' || rc === null || (rc.sample !== undefined && typeof rc.sample !== 'number'))) {
        // Only routes registered before the plugin escape the onRoute check: ignore, say so once.
        log.error('route-config', `fastify-blackhole: route ${request.routeOptions.url} has an invalid config.blackhole (register the plugin before the routes); ignored`)
        rc = undefined
      }
      if (rc === false) {
        stats.skipped.route++
      } else {
        const skip = sampler.decide(request.raw, rc?.sample)
        if (skip !== null) stats.skipped[skip]++
        else startCapture(request.raw, reply.raw, process.hrtime.bigint(), o.maxBodyBytes, budget, timeResponse, onCaptureDone)
      }
    } catch (err) {
      stats.errors++
      log.error('capture', 'fastify-blackhole: capture failed to start', err as Error)
    }
    done()
  }

  fastify.addHook('onRoute', (route) => {
    resolveRouteConfig(`${String(route.method)} ${route.url}`, (route.config as { blackhole?: unknown } | undefined)?.blackhole)
  })
  fastify.addHook('onRequest', onRequest)
  fastify.addHook('onClose', async () => {
    if (ownWriter) await writer.close()
    else await writer.flush()
    // Sealed by now: upload within the time allowed; the rest stays in staging for the next start.
    await uploader?.close()
  })

  const service: ArchiveService = {
    dir: writer.dir,
    writer,
    record: (r) => writer.record(r),
    flush: () => writer.flush(),
    rotate: () => writer.rotate(),
    stats: () => ({ capture: { ...stats, overBudget: budget.overruns, skipped: { ...stats.skipped } }, archive: writer.stats(), ...(uploader !== null ? { upload: uploader.stats() } : {}) }),
    listSealed: () => writer.listSealed()
  }
  fastify.decorate('archive', service)
}

const blackhole = fp(plugin, { fastify: '5.x', name: 'fastify-blackhole' })

export default blackhole
export { blackhole as fastifyBlackhole }
export type { BlackholeOptions, RedactOptions, MatchOptions, RedactMode } from './options.js'
export { BlackholeOptionError, DEFAULT_REDACT_HEADERS } from './options.js'
export { ArchiveWriter } from '../lib/archive/writer.js'
export { readArchive, readFileRecords, listArchiveFiles, ArchiveError } from '../lib/archive/reader.js'
export { decodeRequest, encodeRequest, type RequestRecord, type DecodedRequest } from '../lib/format/record.js'
