import { CODEC_NAMES, type CodecName } from '../../lib/format/codecs.js'
import { durationFlag, intFlag, UsageError, type CommandSpec, type ParsedFlags } from './args.js'
import { normalizePresetOptions } from '../server/options.js'
import type { ServeOptions } from '../server/server.js'

export const serveSpec: CommandSpec = {
  name: 'serve',
  summary: 'Run the sink: answer 200 to every request and record it (or not, with --no-record).',
  usage: 'serve [flags]',
  details: 'Every flag can also be set with the environment variable shown; a flag on the command line wins.\n' +
    'Sizes take k/M/G suffixes (binary: 1MiB = 1048576); durations take ms/s/m/h.',
  flags: {
    port: { type: 'string', short: 'p', arg: 'PORT', default: '8080', env: 'BLACKHOLE_PORT', help: 'TCP port to listen on' },
    host: { type: 'string', arg: 'HOST', default: '0.0.0.0', env: 'BLACKHOLE_HOST', help: 'address to listen on (:: for IPv6 and IPv4)' },
    out: { type: 'string', short: 'o', arg: 'DIR|S3URL', default: './archive', env: 'BLACKHOLE_OUT', help: 'archive directory, or s3://bucket/prefix to upload each sealed file there (see --staging)' },
    staging: { type: 'string', arg: 'DIR', env: 'BLACKHOLE_STAGING', help: 'with an s3:// --out: local directory for files until they are uploaded (default: ./archive-staging)' },
    's3-endpoint': { type: 'string', arg: 'URL', env: 'BLACKHOLE_S3_ENDPOINT', help: 'with an s3:// --out: endpoint of a non-AWS store (MinIO, Ceph, R2...); default: the AWS SDK\'s (AWS_ENDPOINT_URL_S3...)' },
    's3-force-path-style': { type: 'boolean', env: 'BLACKHOLE_S3_FORCE_PATH_STYLE', help: 'with an s3:// --out: path-style requests (default: on with --s3-endpoint)' },
    's3-host-id': { type: 'string', arg: 'ID', env: 'BLACKHOLE_S3_HOST_ID', help: 'with an s3:// --out: key level under the prefix that keeps this sink\'s files apart (default: the host name)' },
    record: { type: 'boolean', default: true, env: 'BLACKHOLE_RECORD', help: 'record requests; --no-record makes a pure sink for stress tests' },
    workers: { type: 'string', short: 'w', arg: 'N', default: '1', env: 'BLACKHOLE_WORKERS', help: 'worker processes (node:cluster); each writes its own files' },
    'body-limit': { type: 'string', arg: 'SIZE', default: '64MiB', env: 'BLACKHOLE_BODY_LIMIT', help: 'largest body accepted; larger ones get 413 and are counted' },
    codec: { type: 'string', arg: 'NAME', default: 'auto', env: 'BLACKHOLE_CODEC', help: `archive codec: ${CODEC_NAMES.join(', ')} (auto: the fastest installed, liblz4 then lz4-napi then lz4js; none: raw .fbf)` },
    'batch-bytes': { type: 'string', arg: 'SIZE', default: '1MiB', env: 'BLACKHOLE_BATCH_BYTES', help: 'records are compressed and written in batches of this size' },
    'flush-ms': { type: 'string', arg: 'DURATION', default: '1000', env: 'BLACKHOLE_FLUSH_MS', help: 'a non-empty batch is written at least this often' },
    'rotate-bytes': { type: 'string', arg: 'SIZE', default: '256MiB', env: 'BLACKHOLE_ROTATE_BYTES', help: 'seal a file and start a new one past this size' },
    'rotate-seconds': { type: 'string', arg: 'N', default: '600', env: 'BLACKHOLE_ROTATE_SECONDS', help: 'seal a file with records after this many seconds (0: never)' },
    'retain-bytes': { type: 'string', arg: 'SIZE', default: '0', env: 'BLACKHOLE_RETAIN_BYTES', help: 'delete the oldest sealed files past this total (0: keep all)' },
    fsync: { type: 'boolean', default: false, env: 'BLACKHOLE_FSYNC', help: 'fdatasync each file before sealing it' },
    'block-checksum': { type: 'boolean', default: false, env: 'BLACKHOLE_BLOCK_CHECKSUM', help: 'xxh32 per LZ4 block (blackhole\'s own reader rejects them: keep off for files blackhole reads)' },
    sample: { type: 'string', arg: 'P', default: '1', env: 'BLACKHOLE_SAMPLE', help: 'fraction of requests recorded, 0 to 1' },
    'redact-header': { type: 'string', multiple: true, arg: 'NAME', env: 'BLACKHOLE_REDACT_HEADER', help: 'replace this header\'s value with [REDACTED] in records (env: comma-separated)' },
    'tls-cert': { type: 'string', arg: 'FILE', env: 'BLACKHOLE_TLS_CERT', help: 'PEM certificate: serve HTTPS (with --tls-key)' },
    'tls-key': { type: 'string', arg: 'FILE', env: 'BLACKHOLE_TLS_KEY', help: 'PEM private key for --tls-cert' },
    http2: { type: 'boolean', default: false, env: 'BLACKHOLE_HTTP2', help: 'serve HTTP/2 (and HTTP/1.1) over TLS' },
    'log-level': { type: 'string', arg: 'LEVEL', default: 'info', env: 'BLACKHOLE_LOG_LEVEL', help: 'fatal, error, warn, info, debug, trace or silent' },
    'stats-interval': { type: 'string', arg: 'DURATION', default: '10s', env: 'BLACKHOLE_STATS_INTERVAL', help: 'log a stats line this often (0: never)' },
    admin: { type: 'boolean', default: true, env: 'BLACKHOLE_ADMIN', help: 'serve /_blackhole/* admin routes; --no-admin makes every path a sink path' },
    'admin-prefix': { type: 'string', arg: 'PATH', default: '/_blackhole', env: 'BLACKHOLE_ADMIN_PREFIX', help: 'prefix reserved for the admin routes (never recorded)' },
    'admin-token': { type: 'string', arg: 'TOKEN', env: 'BLACKHOLE_ADMIN_TOKEN', help: 'enable the replay routes, for clients sending Authorization: Bearer TOKEN (16+ chars; prefer the env variable)' },
    'replay-allow': { type: 'string', multiple: true, arg: 'HOST:PORT', env: 'BLACKHOLE_REPLAY_ALLOW', help: 'targets replay jobs may send to; * is a wildcard (env: comma-separated)' },
    'replay-max-jobs': { type: 'string', arg: 'N', default: '1', env: 'BLACKHOLE_REPLAY_MAX_JOBS', help: 'replay jobs running at once' },
    'response-status': { type: 'string', arg: 'CODE', default: '200', env: 'BLACKHOLE_RESPONSE_STATUS', help: 'status code of every response' },
    'response-header': { type: 'string', multiple: true, arg: 'NAME:VALUE', env: 'BLACKHOLE_RESPONSE_HEADER', help: 'add this header to every response' },
    'response-body': { type: 'string', arg: 'TEXT', env: 'BLACKHOLE_RESPONSE_BODY', help: 'body of every response (default: empty)' },
    grace: { type: 'string', arg: 'DURATION', default: '10s', env: 'BLACKHOLE_GRACE', help: 'on SIGINT/SIGTERM, time to finish requests and seal files before a forced exit' },
    'headers-timeout': { type: 'string', arg: 'DURATION', default: '30s', env: 'BLACKHOLE_HEADERS_TIMEOUT', help: 'a connection must send a request\'s headers within this, else 408 and closed (slowloris, idle new connections)' },
    'request-timeout': { type: 'string', arg: 'DURATION', default: '300s', env: 'BLACKHOLE_REQUEST_TIMEOUT', help: 'a whole request (headers and body) must arrive within this, else 408 (0: no limit)' },
    'keep-alive-timeout': { type: 'string', arg: 'DURATION', default: '72s', env: 'BLACKHOLE_KEEP_ALIVE_TIMEOUT', help: 'close a keep-alive connection idle this long' }
  }
}

export const DEFAULT_TIMEOUTS = { headersTimeoutMs: 30_000, requestTimeoutMs: 300_000, keepAliveTimeoutMs: 72_000 }

/** Node's http server options for the timeouts: they are enforced by a check every second (Node's default: 30 s). */
export function timeoutOptions (o: Pick<ServeOptions, 'headersTimeoutMs' | 'requestTimeoutMs' | 'keepAliveTimeoutMs'>): { requestTimeout: number, keepAliveTimeout: number, http: { headersTimeout: number, connectionsCheckingInterval: number } } {
  const headersTimeout = o.headersTimeoutMs ?? DEFAULT_TIMEOUTS.headersTimeoutMs
  const requestTimeout = o.requestTimeoutMs ?? DEFAULT_TIMEOUTS.requestTimeoutMs
  if (requestTimeout > 0 && headersTimeout > requestTimeout) throw new UsageError(`--headers-timeout (${headersTimeout} ms) must not exceed --request-timeout (${requestTimeout} ms)`)
  return {
    requestTimeout,
    keepAliveTimeout: o.keepAliveTimeoutMs ?? DEFAULT_TIMEOUTS.keepAliveTimeoutMs,
    http: { headersTimeout, connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(headersTimeout / 2))) }
  }
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']

export function serveOptions (flags: ParsedFlags): ServeOptions {
  const logLevel = String(flags['log-level'])
  if (!LOG_LEVELS.includes(logLevel)) throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}, got '${logLevel}'`)
  const cert = flags['tls-cert'] as string | undefined
  const key = flags['tls-key'] as string | undefined
  if ((cert === undefined) !== (key === undefined)) throw new UsageError(`--tls-cert and --tls-key go together (missing ${cert === undefined ? '--tls-cert' : '--tls-key'})`)
  if (flags.http2 === true && cert === undefined) throw new UsageError('--http2 needs --tls-cert and --tls-key')
  const headers: Record<string, string> = {}
  for (const h of (flags['response-header'] as string[] | undefined) ?? []) {
    const i = h.indexOf(':')
    if (i <= 0) throw new UsageError(`--response-header must look like 'Name: value', got '${h}'`)
    headers[h.slice(0, i).trim()] = h.slice(i + 1).trim()
  }
  const codec = String(flags.codec) as CodecName
  if (!CODEC_NAMES.includes(codec)) throw new UsageError(`--codec must be one of ${CODEC_NAMES.join(', ')}, got '${codec}'`)
  const o: ServeOptions = {
    port: intFlag('port', flags.port, 0, 65535),
    host: String(flags.host),
    workers: intFlag('workers', flags.workers, 1, 256),
    tlsCert: cert,
    tlsKey: key,
    http2: flags.http2 === true,
    logLevel,
    graceMs: durationFlag('grace', flags.grace, 1),
    headersTimeoutMs: durationFlag('headers-timeout', flags['headers-timeout'], 1),
    requestTimeoutMs: durationFlag('request-timeout', flags['request-timeout']),
    keepAliveTimeoutMs: durationFlag('keep-alive-timeout', flags['keep-alive-timeout'], 1),
    preset: {
      record: flags.record !== false,
      out: String(flags.out),
      staging: flags.staging as string | undefined,
      s3Endpoint: flags['s3-endpoint'] as string | undefined,
      s3ForcePathStyle: flags['s3-force-path-style'] as boolean | undefined,
      s3HostId: flags['s3-host-id'] as string | undefined,
      bodyLimit: String(flags['body-limit']),
      codec,
      batchBytes: String(flags['batch-bytes']),
      flushMs: String(flags['flush-ms']),
      rotateBytes: String(flags['rotate-bytes']),
      rotateMs: intFlag('rotate-seconds', flags['rotate-seconds']) * 1000,
      retainBytes: String(flags['retain-bytes']),
      fsync: flags.fsync === true,
      blockChecksum: flags['block-checksum'] === true,
      sample: String(flags.sample),
      redactHeaders: (flags['redact-header'] as string[] | undefined) ?? [],
      admin: flags.admin !== false,
      adminPrefix: String(flags['admin-prefix']),
      adminToken: (flags['admin-token'] as string | undefined) ?? '',
      replayAllow: (flags['replay-allow'] as string[] | undefined) ?? [],
      replayMaxJobs: String(flags['replay-max-jobs']),
      statsIntervalMs: String(flags['stats-interval']),
      response: {
        status: intFlag('response-status', flags['response-status'], 200, 599),
        headers,
        body: (flags['response-body'] as string | undefined) ?? ''
      }
    }
  }
  // Uploads at shutdown get most of the grace: sealing and closing need the rest.
  o.preset.uploadGraceMs = Math.floor(o.graceMs * 0.8)
  normalizePresetOptions(o.preset) // every value checked now, with the flag's name
  timeoutOptions(o)
  return o
}

export async function runServe (flags: ParsedFlags): Promise<number> {
  const options = serveOptions(flags)
  // Loaded here so that the other commands do not pay for loading Fastify.
  const { serve } = await import('../server/server.js')
  await serve(options)
  // The server keeps the process alive; close-with-grace sets the exit code.
  return 0
}
