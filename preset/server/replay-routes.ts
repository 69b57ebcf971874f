// Replay jobs over HTTP: POST {prefix}/replay starts one, GET {prefix}/replay/:id shows it,
// DELETE cancels it. These routes can send traffic anywhere, so they exist only when an admin
// token is configured, every call needs `Authorization: Bearer <token>` (compared in constant
// time), targets must match the allowlist, and files must resolve inside the archive directory.
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto'
import { lookup } from 'node:dns/promises'
import { realpath } from 'node:fs/promises'
import net from 'node:net'
import path from 'node:path'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { listArchiveFiles } from '../../lib/archive/reader.js'
import type { Pacing, ReplayProgress, ReplaySummary } from '../../lib/replay/replay.js'

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

export class HttpError extends Error {
  constructor (readonly statusCode: number, message: string) {
    super(message)
  }
}

/**
 * Checks a target against the allowlist and pins it to the address it resolves to now, so a
 * DNS answer that changes later cannot redirect the job. Returns the URL to connect to and the
 * Host/SNI name to present.
 */
/** Every address a name resolves to (the system resolver, as the replay's connections use). */
export async function resolveAll (hostname: string): Promise<string[]> {
  return (await lookup(hostname, { all: true })).map(a => a.address)
}

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
export async function resolveFiles (dir: string, names: unknown): Promise<string[]> {
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
  if (!Array.isArray(names) || names.length === 0 || names.length > 10_000 || !names.every(n => typeof n === 'string')) {
    throw new HttpError(400, 'files must be a non-empty array of file names')
  }
  const out: string[] = []
  for (const name of names as string[]) {
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

function pacingOf (body: Record<string, unknown>): Pacing {
  const num = (k: string, min: number, max: number): number => {
    const v = body[k]
    if (typeof v !== 'number' || !(v >= min && v <= max)) throw new HttpError(400, `${k} must be a number from ${min} to ${max}`)
    return v
  }
  if (body.rate !== undefined) return { mode: 'rate', rate: num('rate', 0.001, 1_000_000) }
  if (body.speed !== undefined) return { mode: 'speed', speed: num('speed', 0.001, 1000), ...(body.maxWaitMs !== undefined ? { maxWaitMs: num('maxWaitMs', 0, 86_400_000) } : {}) }
  return { mode: 'concurrency', concurrency: body.concurrency === undefined ? 16 : num('concurrency', 1, 1024) }
}

export function addReplayRoutes (fastify: FastifyInstance, o: ReplayRouteOptions): void {
  const tokenDigest = digest(o.token)
  const allow = o.allow.map(globToRegExp)
  const allowLiteral = new Set(o.allow.filter(p => !p.includes('*')))
  const jobs = new Map<string, Job>()
  const config = { blackhole: false as const }

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

  fastify.post(`${o.prefix}/replay`, { config, bodyLimit: 64 * 1024 }, async (request, reply) => {
    try {
      authorize(request)
      const body = request.body
      if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new HttpError(400, 'body must be a JSON object')
      const b = body as Record<string, unknown>
      const known = ['target', 'files', 'concurrency', 'rate', 'speed', 'maxWaitMs', 'loop', 'multiply', 'limit', 'methods', 'path', 'setHeaders', 'removeHeaders', 'keepHost', 'timeoutMs']
      for (const k of Object.keys(b)) if (!known.includes(k)) throw new HttpError(400, `unknown field ${k} (known: ${known.join(', ')})`)
      if (typeof b.target !== 'string') throw new HttpError(400, 'target (an http(s) URL) is required')
      const running = [...jobs.values()].filter(j => j.state === 'running').length
      if (running >= o.maxJobs) throw new HttpError(429, `${running} replay job(s) already running (limit ${o.maxJobs})`)
      const { url, host } = await checkTarget(b.target, allow, allowLiteral)
      const files = await resolveFiles(o.dir, b.files)
      const pacing = pacingOf(b)
      const int = (k: string, max: number): number | undefined => {
        const v = b[k]
        if (v === undefined) return undefined
        if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > max) throw new HttpError(400, `${k} must be an integer from 1 to ${max}`)
        return v
      }
      const strings = (k: string): string[] | undefined => {
        const v = b[k]
        if (v === undefined) return undefined
        if (!Array.isArray(v) || !v.every(x => typeof x === 'string')) throw new HttpError(400, `${k} must be an array of strings`)
        return v as string[]
      }
      let pathRe: RegExp | undefined
      if (b.path !== undefined) {
        try {
          pathRe = new RegExp(String(b.path))
        } catch {
          throw new HttpError(400, 'path must be a valid regular expression')
        }
      }
      const setHeaders = (strings('setHeaders') ?? []).map(h => {
        const i = h.indexOf(':')
        if (i <= 0) throw new HttpError(400, `setHeaders entries look like 'Name: value', got ${JSON.stringify(h)}`)
        return [h.slice(0, i).trim(), h.slice(i + 1).trim()] as [string, string]
      })
      const keepHost = b.keepHost === true
      // Every field is checked before the job exists: a refused request leaves nothing behind.
      const replayOptions = {
        paths: files,
        target: url.href,
        pacing,
        loop: int('loop', 1000),
        multiply: int('multiply', 1000),
        limit: int('limit', 100_000_000),
        timeoutMs: int('timeoutMs', 600_000),
        filter: { methods: strings('methods'), path: pathRe },
        rewrite: {
          // The connection goes to the pinned address; the Host header names the target as given.
          setHeaders: keepHost ? setHeaders : [['Host', host] as [string, string], ...setHeaders],
          removeHeaders: strings('removeHeaders'),
          keepHost
        },
        progressMs: 500
      }
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
