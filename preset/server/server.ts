// Standalone start of the preset sink: Fastify with the preset app, graceful shutdown with
// close-with-grace (every archive sealed, exit 0), and N workers with node:cluster.
import cluster from 'node:cluster'
import { accessSync, constants as fsConstants, mkdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import closeWithGrace from 'close-with-grace'
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from 'fastify'
import { pino } from 'pino'
import { recoverTmpFiles } from '../../lib/archive/recover.js'
import blackholePreset from '../app.js'
import type { PresetOptions } from './options.js'
import { normalizePresetOptions } from './options.js'
import { UsageError } from '../cli/args.js'
import { timeoutOptions } from '../cli/serve.js'

export interface ServeOptions {
  port: number
  host: string
  workers: number
  tlsCert?: string
  tlsKey?: string
  http2: boolean
  logLevel: string
  /** Time allowed to finish in-flight requests and seal files on a signal. Default 10 s. */
  graceMs: number
  /** A connection must deliver a request's headers within this (slowloris; also idle new connections). Default 30 s. */
  headersTimeoutMs?: number
  /** A request (headers and body) must arrive within this; 0: no limit. Default 300 s. */
  requestTimeoutMs?: number
  /** An idle keep-alive connection is closed after this. Default 72 s. */
  keepAliveTimeoutMs?: number
  preset: PresetOptions
}

/** The archive directory exists (or is created, mode 0700) and can be written: else one line, exit 2. */
function checkArchiveDir (out: string, flag = '--out'): void {
  try {
    mkdirSync(out, { recursive: true, mode: 0o700 })
    accessSync(out, fsConstants.W_OK | fsConstants.X_OK)
  } catch (err) {
    throw new UsageError(`${flag}: cannot use archive directory ${path.resolve(out)}: ${(err as Error).message}`)
  }
}

function readPem (flag: string, file: string): Buffer {
  try {
    return readFileSync(file)
  } catch (err) {
    throw new UsageError(`${flag}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`)
  }
}

/** pino at `level`; a Fastify request logged as `req` shows what Fastify's own logger shows (pino serializes `err` itself). */
function serverLogger (level: string): FastifyBaseLogger {
  return pino({
    level,
    serializers: {
      req: (r: FastifyRequest) => ({ method: r.method, url: r.url, host: r.host, remoteAddress: r.ip, remotePort: r.socket?.remotePort })
    }
  })
}

export async function buildServer (o: ServeOptions): Promise<FastifyInstance> {
  const preset = normalizePresetOptions(o.preset)
  const tls = o.tlsCert !== undefined && o.tlsKey !== undefined
    ? { cert: readPem('--tls-cert', o.tlsCert), key: readPem('--tls-key', o.tlsKey) }
    : null
  const timeouts = timeoutOptions(o)
  // Fastify runs without a logger of its own: with one, it puts finish and error listeners on
  // every response even with request logging off (and a child logger factory of ours would be
  // validated on every request): 3–6k instructions of a ~70k --no-record request
  // (docs/benchmarks.md). The server's pino logger becomes `app.log` instead, so Fastify's own
  // lines (listening, client errors) and ours come out; a request's `log` logs nothing, so
  // the errors of requests are logged by the onError hook below.
  const log = o.logLevel === 'silent' ? null : serverLogger(o.logLevel)
  const base = {
    logger: false,
    // No log line per request (a request's log logs nothing anyway): not even the call.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: preset.bodyLimit,
    requestTimeout: timeouts.requestTimeout,
    keepAliveTimeout: timeouts.keepAliveTimeout,
    http: timeouts.http
  }
  let app: FastifyInstance
  if (o.http2) {
    if (tls === null) throw new Error('--http2 needs --tls-cert and --tls-key')
    app = Fastify({ ...base, http2: true, https: { ...tls, allowHTTP1: true } }) as unknown as FastifyInstance
  } else if (tls !== null) {
    // https.createServer takes the http server options (headersTimeout, check interval) too.
    app = Fastify({ ...base, https: { ...tls, ...timeouts.http } }) as unknown as FastifyInstance
  } else {
    app = Fastify(base)
  }
  if (log !== null) {
    app.log = log
    // What Fastify's default error handler would have logged at error level. (4xx answers are
    // the client's and not logged, as no request is; a bad Content-Type gets the sink's 200.)
    app.addHook('onError', (request, _reply, error, done) => {
      const status = error.statusCode ?? 500
      if (status >= 500) log.error({ req: request, err: error }, error.message)
      done()
    })
  }
  if (preset.record) checkArchiveDir(preset.out, preset.upload !== null ? '--staging' : '--out')
  try {
    await app.register(blackholePreset, o.preset)
  } catch (err) {
    await app.close().catch(() => {})
    // An archive directory that cannot be used is a bad --out: one line, exit 2.
    if (/cannot use archive directory/.test((err as Error).message)) throw new UsageError(`--out: ${(err as Error).message.replace(/^fastify-blackhole: /, '')}`)
    throw err
  }
  return app
}

function describe (o: ServeOptions, port: number): string {
  const p = normalizePresetOptions(o.preset)
  const scheme = o.tlsCert ? 'https' : 'http'
  const lines = [`blackhole: listening on ${scheme}://${o.host.includes(':') ? `[${o.host}]` : o.host}:${port}${o.http2 ? ' (HTTP/2 and HTTP/1.1)' : ''}` +
    (o.workers > 1 ? ` with ${o.workers} workers` : '')]
  lines.push(p.record ? `blackhole: recording into ${path.resolve(p.out)}` : 'blackhole: not recording (--no-record): every request is answered and discarded')
  if (p.record && p.upload !== null) lines.push(`blackhole: uploading sealed files to ${p.upload.url} (staging until confirmed)`)
  if (p.admin) lines.push(`blackhole: stats at ${p.adminPrefix}/stats`)
  lines.push('blackhole: stop with Ctrl-C or SIGTERM (in-flight requests finish, archive files are sealed)')
  return lines.join('\n') + '\n'
}

/** One server process: listen, and on a signal close gracefully (seal every file) and exit 0. */
export async function startStandalone (o: ServeOptions, opts: { quietBanner?: boolean, ignoreSigint?: boolean } = {}): Promise<FastifyInstance> {
  const app = await buildServer(o)
  const lastChance = (): void => {
    // Exiting without a graceful close: seal what the writer has, synchronously.
    if (app.hasDecorator('archive')) app.archive.writer.flushSync()
  }
  const grace = closeWithGrace({
    delay: o.graceMs,
    logger: { error: (m: unknown) => app.log.error(m) } as unknown as Console,
    // Under cluster, the primary forwards SIGTERM; a terminal's SIGINT to the group is left to it.
    skip: opts.ignoreSigint ? ['SIGINT'] : [],
    onSecondSignal: lastChance,
    onSecondError: lastChance,
    onTimeout: lastChance
  }, async ({ err, signal }) => {
    if (err) app.log.error({ err }, 'blackhole: fatal error, closing')
    else if (signal) app.log.info(`blackhole: ${signal} received, closing`)
    await app.close()
  })
  if (opts.ignoreSigint) process.on('SIGINT', () => {})
  app.addHook('onClose', async () => grace.uninstall())
  try {
    await app.listen({ port: o.port, host: o.host })
  } catch (err) {
    // A port in use, a host that does not resolve or is not local: one line, exit 2, files sealed.
    await app.close().catch(() => {})
    const e = err as NodeJS.ErrnoException
    throw new UsageError(`cannot listen on ${o.host}:${o.port} (--host/--port): ${e.code ?? e.message}`)
  }
  const address = app.server.address()
  if (!opts.quietBanner) process.stdout.write(describe(o, typeof address === 'object' && address !== null ? address.port : o.port))
  return app
}

const QUICK_EXIT_MS = 5000
const MAX_QUICK_EXITS = 3

/**
 * `blackhole serve`: one process, or a cluster primary that recovers the archive directory
 * once, forks the workers (each writes its own files) and relays shutdown signals to them.
 */
export async function serve (o: ServeOptions): Promise<void> {
  if (o.workers <= 1) {
    await startStandalone(o)
    return
  }
  if (cluster.isWorker) {
    try {
      await startStandalone({ ...o, preset: { ...o.preset, recover: false } }, { quietBanner: true, ignoreSigint: true })
    } catch (err) {
      if (!(err instanceof UsageError) || process.send === undefined) throw err
      // A start-up problem (port in use...): the primary reports it once and stops; the IPC
      // channel would otherwise keep this worker alive without a server.
      process.send({ blackholeStartError: err.message }, () => process.exit(2))
    }
    return
  }
  const p = normalizePresetOptions(o.preset)
  if (p.record) {
    checkArchiveDir(p.out, p.upload !== null ? '--staging' : '--out')
    for (const r of await recoverTmpFiles(p.out)) {
      process.stderr.write(r.error ? `blackhole: could not recover ${r.file}: ${r.error.message}\n` : `blackhole: recovered ${r.records} records from ${r.file}\n`)
    }
  }
  const recoverDead = async (): Promise<void> => {
    try {
      for (const r of await recoverTmpFiles(p.out, { skipLive: true })) {
        process.stderr.write(r.error ? `blackhole: could not recover ${r.file}: ${r.error.message}\n` : `blackhole: recovered ${r.records} records from ${r.file}\n`)
      }
    } catch (err) {
      process.stderr.write(`blackhole: recovery of ${p.out} failed: ${(err as Error).message}\n`)
    }
  }
  let stopping = false
  let quickExits = 0
  let failed = false
  let startError = false
  const startedAt = new Map<number, number>()
  const fork = (): void => {
    const w = cluster.fork()
    startedAt.set(w.id, Date.now())
  }
  cluster.on('exit', (w, code, signal) => {
    const lived = Date.now() - (startedAt.get(w.id) ?? 0)
    startedAt.delete(w.id)
    if (stopping) {
      // A worker still starting when the SIGTERM came dies of it: it had nothing to seal.
      if (code !== 0 && !(code === null && signal === 'SIGTERM')) failed = true
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(startError ? 2 : failed ? 1 : 0)
      return
    }
    process.stderr.write(`blackhole: worker ${w.process.pid} exited (${signal ?? code})\n`)
    // Its unsealed file is recovered now, not at the next start (files of live workers are skipped).
    if (p.record) recoverDead().catch(() => {})
    quickExits = lived < QUICK_EXIT_MS ? quickExits + 1 : 0
    if (quickExits >= MAX_QUICK_EXITS) {
      process.stderr.write(`blackhole: workers keep failing at start (${MAX_QUICK_EXITS} in a row); stopping\n`)
      failed = true
      stop()
      return
    }
    fork()
  })
  const stop = (): void => {
    if (stopping) return
    stopping = true
    const workers = Object.values(cluster.workers ?? {})
    if (workers.length === 0) process.exit(startError ? 2 : failed ? 1 : 0)
    for (const w of workers) w?.process.kill('SIGTERM')
  }
  cluster.on('message', (_w, msg: { blackholeStartError?: unknown } | null) => {
    if (typeof msg?.blackholeStartError !== 'string' || startError) return
    startError = true
    process.stderr.write(`blackhole serve: ${msg.blackholeStartError}\n`)
    stop()
  })
  process.on('SIGINT', stop)
  process.on('SIGTERM', stop)
  let listening = 0
  cluster.on('listening', (_w, address) => {
    if (++listening === o.workers) process.stdout.write(describe(o, address.port))
  })
  for (let i = 0; i < o.workers; i++) fork()
}
