// Helpers shared by the replay tests (replay.test.ts, replay-cli.test.ts, replay-routes.test.ts):
// archives of given records built with ArchiveWriter, a capture server on node:http that keeps
// what every request brought (method, URL, raw header lines, body bytes, arrival time) and
// answers with a configurable status, delay, reset or silence, the CLI as a child process
// stopped by its PID, and an independent header-block parser for the expected header lines.
import http from 'node:http'
import net from 'node:net'
import { performance } from 'node:perf_hooks'
import type { TestContext } from 'node:test'
import { fileURLToPath } from 'node:url'
import { ArchiveWriter, type ArchiveWriterOptions } from '../lib/archive/writer.js'
import { readArchive, type ArchiveRecord } from '../lib/archive/reader.js'
import type { RequestRecord } from '../lib/format/record.js'
import { noise, rmDir, tmpDir } from './tools.js'
import { Proc, stopAll, type Exit } from './fixtures-preset.js'

export { Proc, type Exit }
export { noise, rmDir, tmpDir }

/** The compiled CLI next to this compiled file (dist…/preset/cli.js). */
export const CLI = fileURLToPath(new URL('../preset/cli.js', import.meta.url))

export const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

/** Every byte value 0x00..0xFF, `times` times over. */
export function allBytes (times = 1): Buffer {
  const one = Buffer.from(Array.from({ length: 256 }, (_, i) => i))
  return Buffer.concat(Array.from({ length: times }, () => one))
}

/**
 * Writes `records` into `dir` with an ArchiveWriter (one sealed file unless rotation says
 * otherwise) and returns the sealed file paths, oldest first.
 */
export async function writeRecords (dir: string, records: readonly RequestRecord[], opts: Partial<ArchiveWriterOptions> = {}): Promise<string[]> {
  const sealed: string[] = []
  const w = new ArchiveWriter({ dir, flushMs: 0, recover: false, codec: 'lz4js', ...opts, onSeal: f => sealed.push(f.path) })
  await w.ready()
  for (const r of records) {
    if (!w.record(r)) throw new Error(`the writer dropped record ${String(r.id)}`)
  }
  await w.close()
  const st = w.stats()
  if (st.recordsDropped !== 0 || st.writeErrors !== 0) throw new Error(`writer: ${st.recordsDropped} dropped, ${st.writeErrors} write errors`)
  return sealed
}

/** Every record under `paths`, decoded. */
export async function readRecords (paths: string | string[]): Promise<ArchiveRecord[]> {
  const out: ArchiveRecord[] = []
  for await (const r of readArchive(paths)) out.push(r)
  return out
}

/** Base of the recorded arrival times used by the fixtures: 2023-11-14T22:13:20Z. */
export const T0_NS = 1_700_000_000_000_000_000n
export const MS_NS = 1_000_000n

/** `n` simple POST records, `gapMs` apart from T0 (or without times when gapMs is null). */
export function seriesRecords (n: number, gapMs: number | null, o: { bodyBytes?: number, prefix?: string, status?: number, method?: string } = {}): RequestRecord[] {
  const prefix = o.prefix ?? 's'
  return Array.from({ length: n }, (_, i) => {
    const body = o.bodyBytes === 0 ? undefined : Buffer.from(`{"i":${i},"pad":"${'x'.repeat(Math.max(0, (o.bodyBytes ?? 32) - 20))}"}`)
    const r: RequestRecord = {
      id: `${prefix}-${i}`,
      method: o.method ?? 'POST',
      uri: `/${prefix}/${i}?q=${i}`,
      headers: `Host: recorded.example\r\nContent-Type: application/json\r\nX-Seq: ${i}\r\n${body ? `Content-Length: ${body.length}\r\n` : ''}\r\n`,
      body
    }
    if (gapMs !== null) r.timeNs = T0_NS + BigInt(Math.round(i * gapMs * 1e6))
    if (o.status !== undefined) r.responseStatus = o.status
    return r
  })
}

/**
 * One record of every kind replay must send faithfully: text, JSON, binary (all byte values),
 * empty and absent bodies, 5 MiB, duplicate headers in their original case, latin1 header
 * bytes, a blackhole record (no appended fields, header block without the closing blank line),
 * absolute-form URI, a chunked request stored de-chunked, hop-by-hop headers, Expect, HTTP/2
 * pseudo-headers, a truncated body, HEAD, DELETE with a body and an extension method.
 */
export function fidelityRecords (): RequestRecord[] {
  const json = Buffer.from(JSON.stringify({ order: 7, items: [{ sku: 'A-1', qty: 2 }], note: 'für Müller', emoji: '\u{1F680}' }))
  let t = T0_NS
  const next = (): bigint => (t += 10n * MS_NS)
  return [
    { id: 'text', method: 'POST', uri: '/text?x=1&y=caf%C3%A9', headers: 'Host: recorded.example\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 13\r\nUser-Agent: curl/8.5.0\r\n\r\n', body: Buffer.from('hello wörld\n'), timeNs: next(), httpVersion: '1.1' },
    { id: 'json', method: 'POST', uri: '/api/orders', headers: `Host: recorded.example\r\nContent-Type: application/json\r\nAccept: application/json\r\nAuthorization: Bearer abc.def.ghi\r\nContent-Length: ${json.length}\r\n\r\n`, body: json, timeNs: next(), httpVersion: '1.1' },
    { id: 'binary', method: 'PUT', uri: '/blob/1', headers: 'Host: recorded.example\r\nContent-Type: application/octet-stream\r\nContent-Length: 1024\r\n\r\n', body: allBytes(4), timeNs: next(), httpVersion: '1.1' },
    { id: 'empty-post', method: 'POST', uri: '/empty', headers: 'Host: recorded.example\r\nContent-Length: 0\r\n\r\n', body: Buffer.alloc(0), timeNs: next(), httpVersion: '1.1' },
    { id: 'get', method: 'GET', uri: '/get?a=1&a=2&b=%00%ff', headers: 'Host: recorded.example\r\nAccept: */*\r\n\r\n', timeNs: next(), httpVersion: '1.1' },
    { id: 'big', method: 'POST', uri: '/upload/big', headers: `Host: recorded.example\r\nContent-Type: application/octet-stream\r\nContent-Length: ${5 << 20}\r\n\r\n`, body: noise(5 << 20, 5), timeNs: next(), httpVersion: '1.1' },
    { id: 'dup', method: 'POST', uri: '/dup', headers: 'Host: recorded.example\r\nX-Dup: one\r\nx-dup: two\r\nX-DUP: three\r\nCookie: a=1\r\nCookie: b=2\r\nx-MiXeD-CaSe: v\r\nAccept: text/html\r\naccept: application/json\r\n\r\n', body: Buffer.from('d'), timeNs: next(), httpVersion: '1.1' },
    { id: 'latin1', method: 'PATCH', uri: '/caf%C3%A9/r%C3%A9sum%C3%A9', headers: 'Host: recorded.example\r\nX-Latin1: caf\u00e9 \u00ff\u0080\u00a0end\r\nX-Utf8: caf\u00c3\u00a9\r\nX-NoSpace:v\r\nX-Two:  spaced\r\nX-Tab:\tt\r\nX-Empty: \r\n\r\n', body: Buffer.from('caf\u00e9', 'latin1'), timeNs: next(), httpVersion: '1.1' },
    // blackhole's records: the five old fields, fasthttp's raw header bytes (no closing blank line).
    { id: 'FH-1700000000123456789-42', method: 'POST', uri: '/legacy/ingest?src=bh', headers: 'Host: example.test\r\nUser-Agent: fasthttp\r\nContent-Type: text/plain\r\nX-Request-Id: FH-1700000000123456789-42\r\n', body: Buffer.from('plain body') },
    { id: 'absolute', method: 'GET', uri: 'http://upstream.test:8080/items/9?force=1', headers: 'Host: upstream.test:8080\r\nAccept: */*\r\n\r\n', timeNs: next(), httpVersion: '1.1' },
    { id: 'chunked', method: 'POST', uri: '/chunked', headers: 'Host: recorded.example\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n', body: Buffer.from('part one|part two|'), timeNs: next(), httpVersion: '1.1' },
    { id: 'hop', method: 'GET', uri: '/upgrade', headers: 'Host: recorded.example\r\nConnection: Upgrade, HTTP2-Settings, Keep-Alive\r\nKeep-Alive: timeout=5\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\nTE: trailers\r\nProxy-Connection: keep-alive\r\nX-Kept: yes\r\n\r\n', timeNs: next(), httpVersion: '1.1' },
    { id: 'expect', method: 'POST', uri: '/expect', headers: 'Host: recorded.example\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n', body: Buffer.from('data'), timeNs: next(), httpVersion: '1.1' },
    { id: 'h2', method: 'GET', uri: '/h2?x=1', headers: ':method: GET\r\n:path: /h2?x=1\r\n:authority: example.test\r\n:scheme: https\r\naccept: text/html\r\nuser-agent: h2client\r\n\r\n', timeNs: next(), httpVersion: '2.0' },
    { id: 'truncated', method: 'POST', uri: '/truncated', headers: 'Host: recorded.example\r\nContent-Length: 100000\r\n\r\n', body: Buffer.from('first bytes only'), bodyLength: 100000, bodyTruncated: true, timeNs: next(), httpVersion: '1.1' },
    { id: 'head', method: 'HEAD', uri: '/head', headers: 'Host: recorded.example\r\n\r\n', timeNs: next(), httpVersion: '1.1' },
    { id: 'delete-body', method: 'DELETE', uri: '/items/7', headers: 'Host: recorded.example\r\nContent-Type: application/json\r\n\r\n', body: Buffer.from('{"reason":"test"}'), timeNs: next(), httpVersion: '1.1' },
    { id: 'purge', method: 'PURGE', uri: '/cache/x', headers: 'Host: recorded.example\r\nX-Cache-Key: x\r\n\r\n', timeNs: next(), httpVersion: '1.1' }
  ]
}

/** The stored body of a record as a Buffer. */
export function bodyOf (r: RequestRecord): Buffer {
  return r.body ? Buffer.from(r.body.buffer, r.body.byteOffset, r.body.length) : Buffer.alloc(0)
}

/**
 * The transport errors of a summary by kind, every kind not named in `expected` being 0 (so a
 * kind added later, e.g. `invalid`, must stay 0 where the test expects none).
 */
export function errorKinds (errors: Record<string, number>, expected: Record<string, number>): { actual: Record<string, number>, expected: Record<string, number> } {
  const want: Record<string, number> = {}
  for (const k of new Set([...Object.keys(errors), ...Object.keys(expected)])) want[k] = expected[k] ?? 0
  return { actual: { ...errors }, expected: want }
}

/** Sum of every error kind of a summary. */
export function errorCount (errors: Record<string, number>): number {
  return Object.values(errors).reduce((a, b) => a + b, 0)
}

// ---------------------------------------------------------------------------------------------
// Header lines

/**
 * Splits a recorded header block into [name, value] pairs in order, written independently of
 * lib/replay/request.ts: lines end with LF or CRLF, a blank line or the end of the block ends
 * the list, the name is what precedes the first colon (after a leading one for HTTP/2
 * pseudo-headers), and the value loses its surrounding whitespace, as an HTTP parser does.
 */
export function headerPairs (block: string): Array<[string, string]> {
  const out: Array<[string, string]> = []
  for (const raw of block.split('\n')) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw
    if (line === '') continue
    const colon = line.indexOf(':', line.startsWith(':') ? 1 : 0)
    if (colon <= 0) continue
    out.push([line.slice(0, colon).trim(), line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '')])
  }
  return out
}

/** Names replay must not copy from the record: the connection's, and the framing it recomputes. */
export const NOT_REPLAYED = new Set([
  'host', 'connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade',
  'content-length', 'expect', 'http2-settings'
])

/** The header lines a target must receive for a record (besides Host and the framing ones). */
export function expectedHeaderLines (block: string): Array<[string, string]> {
  return headerPairs(block).filter(([n]) => !n.startsWith(':') && !NOT_REPLAYED.has(n.toLowerCase()))
}

/** Names the client writes itself and a received list is compared without. */
const CLIENT_WRITTEN = new Set(['host', 'connection', 'content-length', 'transfer-encoding', 'keep-alive'])

/** Raw header lines as received, without the ones the client computes. */
export function receivedHeaderLines (rawHeaders: readonly string[]): Array<[string, string]> {
  const out: Array<[string, string]> = []
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (!CLIENT_WRITTEN.has(rawHeaders[i].toLowerCase())) out.push([rawHeaders[i], rawHeaders[i + 1]])
  }
  return out
}

/** Values of a header (any case) in a raw header list. */
export function rawValues (rawHeaders: readonly string[], name: string): string[] {
  const lower = name.toLowerCase()
  const out: string[] = []
  for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i].toLowerCase() === lower) out.push(rawHeaders[i + 1])
  return out
}

/** The path and query replay must send for a recorded URI (absolute-form reduced, byte for byte). */
export function expectedPath (uri: string, base = ''): string {
  let p = uri
  const m = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i.exec(uri)
  if (m !== null) p = uri.slice(m[0].length) || '/'
  if (p.startsWith('?')) p = '/' + p
  return base.replace(/\/+$/, '') + p
}

// ---------------------------------------------------------------------------------------------
// Capture server

export interface Captured {
  seq: number
  method: string
  url: string
  rawHeaders: string[]
  body: Buffer
  /** performance.now() when the request line and headers had arrived. */
  arrivedMs: number
  /** performance.now() when the answer was sent (or the socket reset); 0 if never. */
  finishedMs: number
}

export type Behavior = 'answer' | 'reset' | 'hang'

export interface CaptureOptions {
  /** Status of every answer, or a function of the request. Default 200. */
  status?: number | ((c: Captured) => number)
  /** Answer this long after the body has arrived. Default 0. */
  delayMs?: number
  /** answer (default), reset (destroy the socket as soon as the headers arrive) or hang (never answer). */
  behavior?: Behavior
  /** Keep every request (default true); false keeps counts and arrival times only. */
  keep?: boolean
}

/**
 * A plain node:http server on 127.0.0.1:0 that records what arrives and answers as configured.
 * `inFlight` counts requests whose headers arrived and whose answer has not been sent yet.
 */
export class CaptureServer {
  readonly server: http.Server
  readonly received: Captured[] = []
  readonly arrivals: number[] = []
  count = 0
  inFlight = 0
  maxInFlight = 0
  opts: CaptureOptions
  readonly #timers = new Set<NodeJS.Timeout>()
  readonly #waiters: Array<() => void> = []
  #closed = false

  private constructor (opts: CaptureOptions) {
    this.opts = opts
    this.server = http.createServer({ keepAliveTimeout: 30_000 }, (req, res) => this.#onRequest(req, res))
    this.server.headersTimeout = 60_000
    this.server.requestTimeout = 0
  }

  static async start (opts: CaptureOptions = {}): Promise<CaptureServer> {
    const c = new CaptureServer(opts)
    await new Promise<void>((resolve, reject) => {
      c.server.once('error', reject)
      c.server.listen(0, '127.0.0.1', () => resolve())
    })
    return c
  }

  get port (): number {
    return (this.server.address() as net.AddressInfo).port
  }

  get origin (): string {
    return `http://127.0.0.1:${this.port}`
  }

  /** Changes how the next requests are answered. */
  set (opts: CaptureOptions): void {
    this.opts = { ...this.opts, ...opts }
  }

  /** Forgets what arrived so far. */
  reset (): void {
    this.received.length = 0
    this.arrivals.length = 0
    this.count = 0
    this.maxInFlight = this.inFlight
  }

  #onRequest (req: http.IncomingMessage, res: http.ServerResponse): void {
    const arrivedMs = performance.now()
    const o = this.opts
    const seq = ++this.count
    this.arrivals.push(arrivedMs)
    this.inFlight++
    if (this.inFlight > this.maxInFlight) this.maxInFlight = this.inFlight
    const c: Captured = { seq, method: req.method ?? '', url: req.url ?? '', rawHeaders: req.rawHeaders.slice(), body: Buffer.alloc(0), arrivedMs, finishedMs: 0 }
    if (o.keep !== false) this.received.push(c)
    let done = false
    const finish = (): void => {
      if (done) return
      done = true
      this.inFlight--
      c.finishedMs = performance.now()
      this.#wake()
    }
    res.once('close', finish)
    this.#wake()
    if (o.behavior === 'reset') {
      req.socket.destroy()
      finish()
      return
    }
    const chunks: Buffer[] = []
    req.on('data', (d: Buffer) => chunks.push(d))
    req.once('end', () => {
      c.body = Buffer.concat(chunks)
      if (o.behavior === 'hang') return
      const answer = (): void => {
        const status = typeof o.status === 'function' ? o.status(c) : (o.status ?? 200)
        res.writeHead(status, { 'content-type': 'text/plain' })
        res.end(String(status))
        finish()
      }
      const delay = o.delayMs ?? 0
      if (delay <= 0) {
        answer()
        return
      }
      const timer = setTimeout(() => {
        this.#timers.delete(timer)
        answer()
      }, delay)
      this.#timers.add(timer)
    })
  }

  #wake (): void {
    for (const w of this.#waiters.splice(0)) w()
  }

  /** Resolves once at least `n` requests have arrived; rejects after `timeoutMs`. */
  async waitForCount (n: number, timeoutMs = 10_000): Promise<void> {
    const deadline = performance.now() + timeoutMs
    while (this.count < n) {
      const left = deadline - performance.now()
      if (left <= 0) throw new Error(`capture server: ${this.count} requests after ${timeoutMs} ms, waited for ${n}`)
      await new Promise<void>(resolve => {
        const timer = setTimeout(resolve, Math.min(left, 200))
        this.#waiters.push(() => { clearTimeout(timer); resolve() })
      })
    }
  }

  /** Span between the first and the last arrival, ms. */
  arrivalSpanMs (): number {
    if (this.arrivals.length < 2) return 0
    return this.arrivals[this.arrivals.length - 1] - this.arrivals[0]
  }

  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    for (const t of this.#timers) clearTimeout(t)
    this.#timers.clear()
    this.server.closeAllConnections()
    await new Promise<void>(resolve => this.server.close(() => resolve()))
  }
}

/** A TCP port on 127.0.0.1 where nothing listens (bound, then released). */
export async function closedPort (): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port
      srv.close(() => resolve(port))
    })
  })
}

// ---------------------------------------------------------------------------------------------
// The CLI as a child process

/** Kills every CLI process started here that is still running (the preset fixtures' Proc). */
export { stopAll as killAll }

export interface CliResult {
  exit: Exit | null
  stdout: string
  stderr: string
  /** Wall time from spawn to exit, ms. */
  ms: number
}

/** Environment for the CLI: no BLACKHOLE_* variables from the caller, no colours, not CI-sensitive. */
export function cliEnv (): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('BLACKHOLE_') && !k.startsWith('NODE_TEST')) env[k] = v
  return env
}

/** Runs `blackhole ARGS` to completion (SIGKILL and exit null after `timeoutMs`). */
export async function runCli (args: string[], timeoutMs = 30_000): Promise<CliResult> {
  const t0 = performance.now()
  const p = new Proc(process.execPath, [CLI, ...args], { env: cliEnv() })
  // A run past its time is killed and reported with exit null.
  const exit = await p.waitExit(timeoutMs).catch(async () => { await p.exited; return null })
  return { exit, stdout: p.stdout, stderr: p.stderr, ms: performance.now() - t0 }
}

/** An archive of `records` in a temp dir removed after the test. */
export async function archiveFor (t: TestContext, records: readonly RequestRecord[], tag: string): Promise<string> {
  const dir = await tmpDir(tag)
  t.after(() => rmDir(dir))
  await writeRecords(dir, records)
  return dir
}

/** A capture server closed after the test. */
export async function captureFor (t: TestContext, opts: CaptureOptions = {}): Promise<CaptureServer> {
  const c = await CaptureServer.start(opts)
  t.after(() => c.close())
  return c
}
