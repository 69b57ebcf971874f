// Helpers shared by the plugin tests (plugin*.test.ts): temp dirs and apps that clean up after
// themselves, real-socket clients (node:http and raw net), archive readers and response
// normalisation for "same answer with and without the plugin" comparisons.
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import http from 'node:http'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import type { TestContext } from 'node:test'
import Fastify, { type FastifyInstance, type FastifyServerOptions, type LightMyRequestResponse } from 'fastify'
import blackhole, { type BlackholeOptions } from '../plugin/index.js'
import { readArchive, readFileRecords, type ArchiveRecord } from '../lib/archive/reader.js'
import { hasTool } from './tools.js'
export { noise } from './tools.js'

export const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

export function sha256 (b: Uint8Array | string): string {
  return createHash('sha256').update(b).digest('hex')
}

/**
 * Per-test resources: temp dirs and Fastify apps. Everything is closed and removed after the
 * test, also when it fails (apps first, so no writer is left writing into a removed dir).
 */
export class Scope {
  readonly #dirs: string[] = []
  readonly #apps: FastifyInstance[] = []

  constructor (t: TestContext) {
    t.after(() => this.cleanup())
  }

  async dir (tag = 'plugin'): Promise<string> {
    const d = await mkdtemp(path.join(os.tmpdir(), `fbh-${tag}-`))
    this.#dirs.push(d)
    return d
  }

  /** A Fastify app tracked for cleanup (not yet ready). */
  fastify (opts: FastifyServerOptions = {}): FastifyInstance {
    const app = Fastify(opts) as unknown as FastifyInstance
    this.#apps.push(app)
    return app
  }

  /**
   * An app with the plugin (when `bh` is given) registered first, then `routes`; ready.
   * Without `bh` it is the same app without the plugin: the baseline for comparisons.
   */
  async app (routes: (app: FastifyInstance) => void | Promise<void>, bh: BlackholeOptions | null, opts: FastifyServerOptions = {}): Promise<FastifyInstance> {
    const app = this.fastify(opts)
    if (bh !== null) await app.register(blackhole, bh)
    await routes(app)
    await app.ready()
    return app
  }

  async cleanup (): Promise<void> {
    for (const app of this.#apps.splice(0)) await app.close().catch(() => {})
    for (const d of this.#dirs.splice(0)) await rm(d, { recursive: true, force: true })
  }
}

/** Listens on an ephemeral loopback port and returns it. */
export async function listen (app: FastifyInstance): Promise<number> {
  await app.listen({ port: 0, host: '127.0.0.1' })
  const addr = app.server.address()
  if (addr === null || typeof addr === 'string') throw new Error('no port')
  return addr.port
}

/** Every record under `dir`, in file and write order. */
export async function records (dir: string): Promise<ArchiveRecord[]> {
  const out: ArchiveRecord[] = []
  for await (const r of readArchive(dir)) out.push(r)
  return out
}

/** Names of every entry in `dir`. */
export async function entries (dir: string): Promise<string[]> {
  return (await readdir(dir)).sort()
}

/**
 * What could hold a secret, for "appears nowhere" checks: for every file in `dir`, its bytes
 * on disk, its decompressed record stream (through the reader's onContent), and, when the
 * lz4 tool is installed and the file is compressed, `lz4 -dc` of it.
 */
export async function archiveBytes (dir: string): Promise<{ files: Buffer[], streams: Buffer[], lz4: Buffer[] }> {
  const files: Buffer[] = []
  const streams: Buffer[] = []
  const lz4: Buffer[] = []
  for (const name of await entries(dir)) {
    const file = path.join(dir, name)
    files.push(await readFile(file))
    const chunks: Uint8Array[] = []
    // eslint-disable-next-line @typescript-eslint/no-unused-vars
    for await (const _ of readFileRecords(file, { onContent: c => chunks.push(Uint8Array.prototype.slice.call(c)) })) { /* drain */ }
    streams.push(Buffer.concat(chunks))
    if (name.endsWith('.lz4') && hasTool('lz4')) {
      const r = spawnSync('lz4', ['-dc', file], { maxBuffer: 256 << 20 })
      if (r.status !== 0) throw new Error(`lz4 -dc ${file} failed: ${String(r.stderr)}`)
      lz4.push(r.stdout)
    }
  }
  return { files, streams, lz4 }
}

/** Lines of a header block (`Name: value\r\n`… `\r\n`) as [name, value] pairs. */
export function headerLines (block: string): Array<[string, string]> {
  const out: Array<[string, string]> = []
  for (const line of block.split('\r\n')) {
    if (line === '') continue
    const c = line.indexOf(':')
    out.push([line.slice(0, c), line.slice(c + 1).trim()])
  }
  return out
}

/** First value of header `name` (any case) in a header block. */
export function headerOf (block: string, name: string): string | undefined {
  return headerLines(block).find(([n]) => n.toLowerCase() === name.toLowerCase())?.[1]
}

/** A response reduced to what must not change when the plugin is added. */
export interface Answer {
  status: number
  headers: Record<string, string>
  body: string
}

const VOLATILE = new Set(['date', 'keep-alive'])

function normHeaders (h: Record<string, string | string[] | number | undefined>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const k of Object.keys(h).sort()) {
    const v = h[k]
    if (VOLATILE.has(k.toLowerCase()) || v === undefined) continue
    out[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : String(v)
  }
  return out
}

export function injected (res: LightMyRequestResponse): Answer {
  return { status: res.statusCode, headers: normHeaders(res.headers), body: res.rawPayload.toString('latin1') }
}

export interface HttpResult extends Answer {
  /** The client socket's local port (the server sees it as the remote port). */
  localPort: number
  raw: Buffer
}

export interface HttpRequestSpec {
  method?: string
  path: string
  headers?: Record<string, string | string[]>
  /** One buffer is sent with `end`; several are written one by one (chunked without a content-length), with `pauseMs` between. */
  body?: Buffer | Buffer[]
  pauseMs?: number
}

/** One request over a fresh loopback connection with node:http. */
export function httpRequest (port: number, spec: HttpRequestSpec): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    let localPort = 0
    const req = http.request({ host: '127.0.0.1', port, method: spec.method ?? 'GET', path: spec.path, headers: spec.headers, agent: false }, res => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        const raw = Buffer.concat(chunks)
        resolve({ status: res.statusCode ?? 0, headers: normHeaders(res.headers), body: raw.toString('latin1'), raw, localPort })
      })
      res.on('error', reject)
    })
    req.on('error', reject)
    req.on('socket', s => {
      s.once('connect', () => { localPort = s.localPort ?? 0 })
    })
    const body = spec.body
    if (body === undefined) {
      req.end()
    } else if (Buffer.isBuffer(body)) {
      req.end(body)
    } else {
      (async () => {
        for (let i = 0; i < body.length; i++) {
          req.write(body[i])
          if (spec.pauseMs !== undefined && i < body.length - 1) await sleep(spec.pauseMs)
        }
        req.end()
      })().catch(reject)
    }
  })
}

export interface RawResult {
  /** Everything the server sent until it closed the connection. */
  data: Buffer
  localPort: number
}

/**
 * Writes `parts` to a raw TCP connection (pausing `pauseMs` between parts) and collects the
 * reply until the server closes. Requests should carry `Connection: close`.
 */
export function rawRequest (port: number, parts: Buffer | string | Array<Buffer | string>, pauseMs = 0): Promise<RawResult> {
  const list = Array.isArray(parts) ? parts : [parts]
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port })
    const chunks: Buffer[] = []
    let localPort = 0
    sock.on('data', (c: Buffer) => chunks.push(c))
    sock.on('error', reject)
    sock.on('end', () => {
      sock.end()
      resolve({ data: Buffer.concat(chunks), localPort })
    })
    sock.once('connect', () => {
      localPort = sock.localPort ?? 0
      ;(async () => {
        for (let i = 0; i < list.length; i++) {
          sock.write(list[i])
          if (pauseMs > 0 && i < list.length - 1) await sleep(pauseMs)
        }
      })().catch(reject)
    })
  })
}

/** Parses a whole HTTP/1.1 response (content-length or chunked) into an Answer. */
export function parseResponse (data: Buffer): Answer {
  const end = data.indexOf('\r\n\r\n')
  if (end === -1) throw new Error(`no complete response head in ${JSON.stringify(data.toString('latin1'))}`)
  const lines = data.subarray(0, end).toString('latin1').split('\r\n')
  const status = Number(lines[0].split(' ')[1])
  const headers: Record<string, string> = {}
  for (const line of lines.slice(1)) {
    const c = line.indexOf(':')
    const k = line.slice(0, c).toLowerCase()
    const v = line.slice(c + 1).trim()
    headers[k] = k in headers ? headers[k] + ', ' + v : v
  }
  let body = data.subarray(end + 4)
  if (headers['transfer-encoding'] === 'chunked') {
    const out: Buffer[] = []
    let p = 0
    for (;;) {
      const eol = body.indexOf('\r\n', p)
      const size = parseInt(body.subarray(p, eol).toString('latin1'), 16)
      if (size === 0) break
      out.push(body.subarray(eol + 2, eol + 2 + size))
      p = eol + 2 + size + 2
    }
    body = Buffer.concat(out)
  } else if (headers['content-length'] !== undefined) {
    body = body.subarray(0, Number(headers['content-length']))
  }
  return { status, headers: normHeaders(headers), body: body.toString('latin1') }
}

/** A logger stream for Fastify that keeps every line. */
export function logCollector (): { lines: string[], stream: { write: (s: string) => void } } {
  const lines: string[] = []
  return { lines, stream: { write: (s: string) => { lines.push(s) } } }
}

/** Wall-clock now in ns, ms resolution (what Date.now gives). */
export function nowNs (): bigint {
  return BigInt(Date.now()) * 1_000_000n
}

/** Sum of a record-count of skip reasons. */
export function sumSkipped (s: Record<string, number>): number {
  return Object.values(s).reduce((a, b) => a + b, 0)
}
