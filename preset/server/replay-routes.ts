// Replay jobs over HTTP: POST {prefix}/replay starts one, GET {prefix}/replay/:id shows it,
// DELETE cancels it. These routes can send traffic anywhere, so they exist only when an admin
// token is configured, every call needs `Authorization: Bearer <token>` (compared in constant
// time), targets must match the allowlist, and files must resolve inside the archive directory.
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto'
import { lookup } from 'node:dns/promises'
import { realpath } from 'node:fs/promises'
import net from 'node:net'
import path from 'node:path'
import AjvCompiler from '@fastify/ajv-compiler'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { listArchiveFiles } from '../../lib/archive/reader.js'
import { hasCode, HttpError, type CodedError } from '../../lib/errors.js'
import { replayErrorMessage, resolveReplayOptions, type ReplayOptions } from '../../lib/replay/options.js'
import { headerOption } from '../../lib/replay/request.js'
import type { ReplayProgress, ReplaySummary } from '../../lib/replay/summary.js'

export interface ReplayRouteOptions {
  prefix: string
  token: string
  /** `host:port` patterns; `*` matches any run of characters. */
  allow: string[]
  /** Archive directory the jobs read from. */
  dir: string
  maxJobs: number
}

interface Job {
  id: string
  state: 'running' | 'done' | 'failed' | 'cancelled'
  target: string
  files: string[]
  startedAt: string
  finishedAt: string | null
  progress: ReplayProgress | null
  summary: ReplaySummary | null
  error: string | null
  controller: AbortController
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest()

function globToRegExp (pattern: string): RegExp {
  return new RegExp('^' + pattern.split('*').map(p => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*') + '$', 'i')
}

/**
 * Addresses no replay may reach unless the allowlist names them literally: link-local (where
 * cloud metadata services live), "this host", and the metadata addresses outside those ranges.
 * BlockList also matches IPv4-mapped IPv6 forms (::ffff:a9fe:a9fe) against the IPv4 rules.
 */
const forbidden = new net.BlockList()
forbidden.addSubnet('169.254.0.0', 16, 'ipv4')
forbidden.addSubnet('0.0.0.0', 8, 'ipv4')
forbidden.addAddress('100.100.100.200', 'ipv4') // Alibaba Cloud metadata
forbidden.addSubnet('fe80::', 10, 'ipv6')
forbidden.addAddress('::', 'ipv6')
forbidden.addAddress('fd00:ec2::254', 'ipv6') // AWS metadata over IPv6
const alwaysForbidden = (ip: string): boolean => forbidden.check(ip, net.isIPv4(ip) ? 'ipv4' : 'ipv6')

/** Every address a name resolves to (the system resolver, as the replay's connections use). */
export async function resolveAll (hostname: string): Promise<string[]> {
  return (await lookup(hostname, { all: true })).map(a => a.address)
}

/**
 * Checks a target against the allowlist and pins it to the address it resolves to now, so a
 * DNS answer that changes later cannot redirect the job. Returns the URL to connect to and the
 * Host/SNI name to present.
 */
export async function checkTarget (target: string, allow: RegExp[], allowLiteral: Set<string>, resolve: (hostname: string) => Promise<string[]> = resolveAll): Promise<{ url: URL, host: string }> {
  let u: URL
  try {
    u = new URL(target)
  } catch {
    throw new HttpError(400, `target is not a URL: ${target}`)
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new HttpError(400, 'target must be http or https')
  if (u.username || u.password) throw new HttpError(400, 'target must not carry credentials')
  const port = u.port || (u.protocol === 'https:' ? '443' : '80')
  const hostname = u.hostname.replace(/^\[|\]$/g, '')
  const hostPort = `${hostname}:${port}`
  if (!allow.some(re => re.test(hostPort))) throw new HttpError(403, `target ${hostPort} is not in the replay allowlist`)
  let addresses: string[]
  if (net.isIP(hostname)) {
    addresses = [hostname]
  } else {
    try {
      addresses = await resolve(hostname)
    } catch {
      throw new HttpError(400, `target host ${hostname} does not resolve`)
    }
  }
  if (addresses.length === 0) throw new HttpError(400, `target host ${hostname} does not resolve`)
  for (const a of addresses) {
    if (alwaysForbidden(a) && !allowLiteral.has(`${a}:${port}`)) throw new HttpError(403, `target ${hostname} resolves to a forbidden address (${a})`)
  }
  const pinned = new URL(u.href)
  pinned.hostname = net.isIPv6(addresses[0]) ? `[${addresses[0]}]` : addresses[0]
  return { url: pinned, host: u.host }
}

/** Resolves requested file names inside `dir`: no absolute paths, no `..`, no symlinks leading out. */
export async function resolveFiles (dir: string, names: readonly string[] | undefined): Promise<string[]> {
  const root = await realpath(dir)
  if (names === undefined) {
    // Every archive of the directory, except links that lead out of it.
    const inside: string[] = []
    for (const file of await listArchiveFiles([root])) {
      const real = await realpath(file).catch(() => null)
      if (real !== null && real.startsWith(root + path.sep)) inside.push(real)
    }
    return inside
  }
  const out: string[] = []
  for (const name of names) {
    if (name.length === 0 || path.isAbsolute(name) || name.includes('\0') || name.split(/[\\/]/).includes('..')) {
      throw new HttpError(400, `file name not allowed: ${JSON.stringify(name)}`)
    }
    let real: string
    try {
      real = await realpath(path.join(root, name))
    } catch {
      throw new HttpError(404, `no such archive file: ${JSON.stringify(name)}`)
    }
    if (!real.startsWith(root + path.sep)) throw new HttpError(400, `file name not allowed: ${JSON.stringify(name)} leaves the archive directory`)
    out.push(real)
  }
  return out
}

const STRINGS = { type: 'array', items: { type: 'string' } } as const

/**
 * The body of POST {prefix}/replay: its shape, its types, and this route's ceilings (tighter
 * than the library's: a job started over HTTP stays modest). lib/replay checks the rest.
 */
const REPLAY_BODY = {
  type: 'object',
  required: ['target'],
  additionalProperties: false,
  properties: {
    target: { type: 'string' },
    files: { ...STRINGS, minItems: 1, maxItems: 10_000 },
    concurrency: { type: 'integer', maximum: 1024 },
    rate: { type: 'number', minimum: 0.001, maximum: 1_000_000 },
    speed: { type: 'number', minimum: 0.001, maximum: 1000 },
    maxWaitMs: { type: 'number', maximum: 86_400_000 },
    loop: { type: 'integer', maximum: 1000 },
    multiply: { type: 'integer', maximum: 1000 },
    limit: { type: 'integer', maximum: 100_000_000 },
    timeoutMs: { type: 'integer', maximum: 600_000 },
    methods: STRINGS,
    path: { type: 'string' },
    setHeaders: STRINGS,
    removeHeaders: STRINGS,
    keepHost: { type: 'boolean' }
  }
} as const

/** A body that REPLAY_BODY accepts. */
interface ReplayBody {
  target: string
  files?: string[]
  concurrency?: number
  rate?: number
  speed?: number
  maxWaitMs?: number
  loop?: number
  multiply?: number
  limit?: number
  timeoutMs?: number
  methods?: string[]
  path?: string
  setHeaders?: string[]
  removeHeaders?: string[]
  keepHost?: boolean
}

interface SchemaProblem {
  keyword: string
  instancePath: string
  params: Record<string, unknown>
  message?: string
}

/** The answer to a body the schema refuses: its first problem, naming the field. */
function bodyProblem (validation: readonly SchemaProblem[]): string {
  const first = validation[0]
  const field = first?.instancePath.slice(1).split('/').join('.')
  if (first?.keyword === 'additionalProperties') return `unknown field ${String(first.params.additionalProperty)} (known: ${Object.keys(REPLAY_BODY.properties).join(', ')})`
  if (first?.keyword === 'required') return `${String(first.params.missingProperty)} is required`
  if (first === undefined || field === '') return 'body must be a JSON object'
  return `${field} ${first.message ?? 'is not valid'}`
}

/** Body fields named differently in ReplayOptions, to name them as sent in a refusal. */
const FIELD_OF = new Map<string, string>([
  ['pacing.concurrency', 'concurrency'],
  ['pacing.rate', 'rate'],
  ['pacing.speed', 'speed'],
  ['pacing.maxWaitMs', 'maxWaitMs']
])

/** The replay a body asks for: the pinned target and the resolved files; lib/replay checks it. */
function jobOptions (b: ReplayBody, url: URL, host: string, files: string[]): ReplayOptions {
  let path: RegExp | undefined
  try {
    path = b.path === undefined ? undefined : new RegExp(b.path)
  } catch {
    throw new HttpError(400, 'path must be a valid regular expression')
  }
  const setHeaders = (b.setHeaders ?? []).map(h => {
    const pair = headerOption(h)
    if (pair === null) throw new HttpError(400, `setHeaders entries look like 'Name: value', got ${JSON.stringify(h)}`)
    return pair
  })
  const keepHost = b.keepHost === true
  return {
    paths: files,
    target: url.href,
    pacing: b.rate !== undefined
      ? { mode: 'rate', rate: b.rate }
      : b.speed !== undefined
        ? { mode: 'speed', speed: b.speed, ...(b.maxWaitMs !== undefined ? { maxWaitMs: b.maxWaitMs } : {}) }
        : b.concurrency !== undefined ? { mode: 'concurrency', concurrency: b.concurrency } : undefined,
    loop: b.loop,
    multiply: b.multiply,
    limit: b.limit,
    timeoutMs: b.timeoutMs,
    filter: { methods: b.methods, path },
    rewrite: {
      // The connection goes to the pinned address; the Host header names the target as given.
      setHeaders: keepHost ? setHeaders : [['Host', host], ...setHeaders],
      removeHeaders: b.removeHeaders,
      keepHost
    },
    progressMs: 500
  }
}

export function addReplayRoutes (fastify: FastifyInstance, o: ReplayRouteOptions): void {
  const tokenDigest = digest(o.token)
  const allow = o.allow.map(globToRegExp)
  const allowLiteral = new Set(o.allow.filter(p => !p.includes('*')))
  const jobs = new Map<string, Job>()
  const config = { blackhole: false as const }
  // Fastify's default Ajv coerces types ('GET' becomes ['GET']) and drops unknown fields; this
  // body refuses both, so its schema is compiled with neither.
  const validatorCompiler = AjvCompiler()({}, { customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: false } })

  function authorize (request: FastifyRequest): void {
    const q = request.raw.url ?? ''
    if (/[?&](access_token|token)=/i.test(q)) throw new HttpError(400, 'tokens in the query string are refused: send Authorization: Bearer <token>')
    const h = request.headers.authorization
    const m = typeof h === 'string' ? /^Bearer\s+(.+)$/i.exec(h) : null
    // Compare digests: constant time, and the same length whatever was sent.
    if (m === null || !timingSafeEqual(digest(m[1].trim()), tokenDigest)) throw new HttpError(401, 'missing or wrong bearer token')
  }

  const fail = (reply: FastifyReply, err: unknown): FastifyReply => {
    if (err instanceof HttpError) {
      if (err.statusCode === 401) reply.header('www-authenticate', 'Bearer')
      return reply.code(err.statusCode).send({ error: err.message })
    }
    if (hasCode(err, 'FST_BLACKHOLE_REPLAY')) return reply.code(400).send({ error: replayErrorMessage(err as CodedError, FIELD_OF) })
    throw err
  }

  const view = (j: Job): Record<string, unknown> => ({
    id: j.id,
    state: j.state,
    target: j.target,
    files: j.files.map(f => path.basename(f)),
    startedAt: j.startedAt,
    finishedAt: j.finishedAt,
    progress: j.progress,
    summary: j.summary,
    error: j.error
  })

  fastify.post(`${o.prefix}/replay`, { config, bodyLimit: 64 * 1024, schema: { body: REPLAY_BODY }, validatorCompiler, attachValidation: true }, async (request, reply) => {
    try {
      authorize(request)
      if (request.validationError !== undefined) throw new HttpError(400, bodyProblem(request.validationError.validation as SchemaProblem[]))
      const b = request.body as ReplayBody
      const running = [...jobs.values()].filter(j => j.state === 'running').length
      if (running >= o.maxJobs) throw new HttpError(429, `${running} replay job(s) already running (limit ${o.maxJobs})`)
      const { url, host } = await checkTarget(b.target, allow, allowLiteral)
      const files = await resolveFiles(o.dir, b.files)
      // Every field is checked before the job exists: a refused request leaves nothing behind.
      const replayOptions = jobOptions(b, url, host, files)
      resolveReplayOptions(replayOptions)
      const job: Job = {
        id: randomUUID(),
        state: 'running',
        target: b.target,
        files,
        startedAt: new Date().toISOString(),
        finishedAt: null,
        progress: null,
        summary: null,
        error: null,
        controller: new AbortController()
      }
      jobs.set(job.id, job)
      const { replay } = await import('../../lib/replay/replay.js')
      replay({
        ...replayOptions,
        signal: job.controller.signal,
        onProgress: (p) => { job.progress = p }
      }).then(summary => {
        job.summary = summary
        job.state = summary.stopped ? 'cancelled' : 'done'
      }, (err: Error) => {
        job.error = err.message
        job.state = 'failed'
      }).finally(() => {
        job.finishedAt = new Date().toISOString()
      })
      return reply.code(202).header('location', `${o.prefix}/replay/${job.id}`).send(view(job))
    } catch (err) {
      return fail(reply, err)
    }
  })

  /** The job named in the URL, for a request with the right token (else 401/403/404). */
  function authorizedJob (request: FastifyRequest): Job {
    authorize(request)
    const job = jobs.get((request.params as { id: string }).id)
    if (job === undefined) throw new HttpError(404, 'no such replay job')
    return job
  }

  fastify.get(`${o.prefix}/replay/:id`, { config }, async (request, reply) => {
    try {
      const job = authorizedJob(request)
      return view(job)
    } catch (err) {
      return fail(reply, err)
    }
  })

  fastify.delete(`${o.prefix}/replay/:id`, { config }, async (request, reply) => {
    try {
      const job = authorizedJob(request)
      job.controller.abort()
      return reply.code(202).send(view(job))
    } catch (err) {
      return fail(reply, err)
    }
  })

  fastify.addHook('onClose', async () => {
    for (const j of jobs.values()) j.controller.abort()
  })
}
