// Helpers shared by preset.test.ts and preset-process.test.ts: temp dirs, free ports, the
// `blackhole` CLI and fastify-cli as child processes (output collected, stopped by PID),
// node:http clients (one request, or a bounded load run counting 200s) and archive readers.
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { readdir } from 'node:fs/promises'
import http from 'node:http'
import net from 'node:net'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { readArchive, type ArchiveRecord } from '../lib/archive/reader.js'
import type { RecordJson } from '../lib/interchange/dump.js'
export { tmpDir, rmDir, noise } from './tools.js'

const here = path.dirname(fileURLToPath(import.meta.url))

/** The compiled CLI next to this compiled file (dist…/preset/cli.js). */
export const CLI = fileURLToPath(new URL('../preset/cli.js', import.meta.url))
/** The compiled preset app, for fastify-cli. */
export const PRESET_APP = fileURLToPath(new URL('../preset/app.js', import.meta.url))

/** fastify-cli's entry point, found from node_modules/.bin/fastify above this file. */
export function fastifyCliBin (): string | null {
  let dir = here
  for (;;) {
    const bin = path.join(dir, 'node_modules', '.bin', 'fastify')
    if (existsSync(bin)) return bin
    const up = path.dirname(dir)
    if (up === dir) return null
    dir = up
  }
}

export const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

/** A TCP port free on 127.0.0.1 right now (bound to port 0, then released). */
export async function freePort (): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.unref()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port
      srv.close(() => resolve(port))
    })
  })
}

/** Resolves once something accepts TCP connections on 127.0.0.1:port. */
export async function waitForPort (port: number, timeoutMs = 15_000, alive: () => boolean = () => true): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const ok = await new Promise<boolean>(resolve => {
      const s = net.connect(port, '127.0.0.1')
      s.once('connect', () => { s.destroy(); resolve(true) })
      s.once('error', () => resolve(false))
    })
    if (ok) return
    if (!alive()) throw new Error(`process exited before listening on port ${port}`)
    if (Date.now() > deadline) throw new Error(`nothing listening on 127.0.0.1:${port} after ${timeoutMs} ms`)
    await sleep(50)
  }
}

export interface Exit {
  code: number | null
  signal: NodeJS.Signals | null
}

/** Every process spawned through Proc and not yet seen exiting, so a hook can stop leftovers. */
const live = new Set<Proc>()

/** A child process with its output collected. Stopped by its PID, never by name. */
export class Proc {
  readonly child: ChildProcess
  readonly pid: number
  stdout = ''
  stderr = ''
  exit: Exit | null = null
  readonly exited: Promise<Exit>
  readonly #waiters: Array<() => void> = []

  constructor (cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv, cwd?: string } = {}) {
    this.child = spawn(cmd, args, { env: opts.env ?? process.env, cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] })
    this.child.on('error', err => { this.stderr += `spawn error: ${err.message}\n` })
    if (this.child.pid === undefined) throw new Error(`could not spawn ${cmd}`)
    this.pid = this.child.pid
    live.add(this)
    this.child.stdout?.setEncoding('utf8').on('data', (s: string) => { this.stdout += s; this.#wake() })
    this.child.stderr?.setEncoding('utf8').on('data', (s: string) => { this.stderr += s; this.#wake() })
    this.exited = new Promise(resolve => {
      this.child.once('close', (code, signal) => {
        this.exit = { code, signal }
        live.delete(this)
        this.#wake()
        resolve(this.exit)
      })
    })
  }

  #wake (): void {
    for (const w of this.#waiters.splice(0)) w()
  }

  get output (): string {
    return `--- stdout ---\n${this.stdout}\n--- stderr ---\n${this.stderr}`
  }

  /** Waits until stdout matches `re`; fails on exit or timeout, showing the output so far. */
  async waitForStdout (re: RegExp, timeoutMs = 15_000): Promise<RegExpExecArray> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const m = re.exec(this.stdout)
      if (m !== null) return m
      if (this.exit !== null) throw new Error(`process exited (${JSON.stringify(this.exit)}) before printing ${re}\n${this.output}`)
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`no ${re} on stdout after ${timeoutMs} ms\n${this.output}`)
      await new Promise<void>(resolve => {
        const timer = setTimeout(resolve, Math.min(left, 1000))
        this.#waiters.push(() => { clearTimeout(timer); resolve() })
      })
    }
  }

  /** Sends a signal to this PID (no-op once it has exited). */
  signal (sig: NodeJS.Signals): void {
    if (this.exit !== null) return
    try {
      process.kill(this.pid, sig)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err
    }
  }

  /** Waits for the exit, failing after `timeoutMs` (the process is then killed). */
  async waitExit (timeoutMs = 20_000): Promise<Exit> {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        this.signal('SIGKILL')
        reject(new Error(`process ${this.pid} still running after ${timeoutMs} ms\n${this.output}`))
      }, timeoutMs)
    })
    try {
      return await Promise.race([this.exited, timeout])
    } finally {
      clearTimeout(timer)
    }
  }

  /** SIGTERM, then SIGKILL if it is still running after `graceMs`. */
  async stop (graceMs = 10_000): Promise<Exit> {
    if (this.exit !== null) return this.exit
    this.signal('SIGTERM')
    const timer = setTimeout(() => this.signal('SIGKILL'), graceMs)
    try {
      return await this.exited
    } finally {
      clearTimeout(timer)
    }
  }
}

/** Stops every process spawned here that is still running (for after hooks). */
export async function stopAll (): Promise<void> {
  await Promise.all([...live].map(p => p.stop(5000)))
}

/** Runs the CLI to completion (for commands that end: dump, bad flags). */
export async function runCli (args: string[], env: NodeJS.ProcessEnv = process.env, timeoutMs = 20_000): Promise<{ exit: Exit, stdout: string, stderr: string }> {
  const p = new Proc(process.execPath, [CLI, ...args], { env })
  const exit = await p.waitExit(timeoutMs)
  return { exit, stdout: p.stdout, stderr: p.stderr }
}

export const BANNER_END = /blackhole: stop with .*\n/

export interface Served {
  proc: Proc
  port: number
  base: string
}

/**
 * Starts `blackhole serve --host 127.0.0.1 --port P --stats-interval 0 ARGS` on a free port
 * and waits for the banner's last line.
 */
export async function startServe (args: string[], opts: { env?: NodeJS.ProcessEnv, port?: number, cwd?: string, timeoutMs?: number } = {}): Promise<Served> {
  const port = opts.port ?? await freePort()
  const proc = new Proc(process.execPath, [CLI, 'serve', '--host', '127.0.0.1', '--port', String(port), '--stats-interval', '0', ...args], { env: opts.env, cwd: opts.cwd })
  await proc.waitForStdout(BANNER_END, opts.timeoutMs ?? 15_000)
  return { proc, port, base: `http://127.0.0.1:${port}` }
}

/** The environment without any BLACKHOLE_* variable (plus `extra`). */
export function cleanEnv (extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('BLACKHOLE_')) env[k] = v
  return { ...env, ...extra }
}

export interface Reply {
  status: number
  headers: http.IncomingHttpHeaders
  body: Buffer
}

export interface RequestOptions {
  method?: string
  path?: string
  headers?: http.OutgoingHttpHeaders
  body?: Uint8Array | string | Array<Uint8Array | string>
  agent?: http.Agent | false
  timeoutMs?: number
}

/** One request over a real socket. An array body is sent chunk by chunk (chunked encoding). */
export async function request (port: number, o: RequestOptions = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers: http.OutgoingHttpHeaders = { ...o.headers }
    // Node's client frames DELETE/OPTIONS/... bodies only with an explicit length.
    if (o.body !== undefined && !Array.isArray(o.body) && headers['content-length'] === undefined && headers['transfer-encoding'] === undefined) {
      headers['content-length'] = Buffer.byteLength(o.body)
    }
    const req = http.request({
      host: '127.0.0.1',
      port,
      method: o.method ?? 'GET',
      path: o.path ?? '/',
      headers,
      agent: o.agent ?? false,
      timeout: o.timeoutMs ?? 10_000
    }, res => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }))
      res.on('error', reject)
    })
    req.on('timeout', () => req.destroy(new Error('request timed out')))
    req.on('error', reject)
    if (Array.isArray(o.body)) {
      for (const c of o.body) req.write(c)
      req.end()
    } else {
      req.end(o.body)
    }
  })
}

export interface LoadResult {
  /** Requests written to a socket (answered or not). */
  sent: number
  /** Responses with status 200. */
  ok: number
  /** Other statuses, by code. */
  statuses: Record<number, number>
  errors: number
  /** Paths of the requests answered 200. */
  okPaths: Set<string>
}

export interface LoadRun {
  result: LoadResult
  /** Resolves when every loop has finished. */
  done: Promise<LoadResult>
  /** Asks the loops to stop after their current request. */
  stop: () => void
}

/**
 * A bounded load run: `concurrency` loops, each sending POSTs with `body` one after another
 * over `agent` until `stop()`, `maxRequests` in all or `durationMs`, counting every 200.
 * Each request has a unique path `/load/<n>` so records can be matched to answers.
 */
export function startLoad (port: number, o: { concurrency: number, maxRequests: number, durationMs: number, body: Buffer, agent: http.Agent | false, pathPrefix?: string }): LoadRun {
  const result: LoadResult = { sent: 0, ok: 0, statuses: {}, errors: 0, okPaths: new Set() }
  const deadline = Date.now() + o.durationMs
  const state = { stopped: false }
  let seq = 0
  const prefix = o.pathPrefix ?? '/load/'
  const loop = async (): Promise<void> => {
    while (!state.stopped && Date.now() < deadline && seq < o.maxRequests) {
      const p = `${prefix}${seq++}`
      result.sent++
      try {
        const r = await request(port, { method: 'POST', path: p, headers: { 'content-type': 'application/octet-stream' }, body: o.body, agent: o.agent, timeoutMs: 5000 })
        if (r.status === 200) {
          result.ok++
          result.okPaths.add(p)
        } else {
          result.statuses[r.status] = (result.statuses[r.status] ?? 0) + 1
        }
      } catch {
        result.errors++
        await sleep(5) // the server is going away: do not spin
      }
    }
  }
  const done = Promise.all(Array.from({ length: o.concurrency }, loop)).then(() => result)
  return { result, done, stop: () => { state.stopped = true } }
}

/** Names in `dir` (empty when it does not exist). */
export async function listDir (dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort()
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw err
  }
}

export const isTmp = (name: string): boolean => name.endsWith('.tmp')
export const isArchive = (name: string): boolean => /\.fbf(\.lz4)?$/.test(name)

/** The writer's PID in an archive file name (`<prefix>_<stamp>_<pid>-<hex>.fbf[.lz4]`). */
export function pidOfFile (name: string): number | null {
  const m = /_(\d+)-[0-9a-f]+\.fbf(\.lz4)?$/.exec(name)
  return m === null ? null : Number(m[1])
}

/** Every record in the sealed archives of `dir`. */
export async function readRecords (dir: string): Promise<ArchiveRecord[]> {
  const out: ArchiveRecord[] = []
  for await (const r of readArchive(dir)) out.push(r)
  return out
}

/** `blackhole dump --json DIR`, parsed. */
export async function dumpJson (dir: string): Promise<RecordJson[]> {
  const r = await runCli(['dump', '--json', dir])
  if (r.exit.code !== 0) throw new Error(`dump exited ${JSON.stringify(r.exit)}: ${r.stderr}`)
  return r.stdout.split('\n').filter(l => l !== '').map(l => JSON.parse(l) as RecordJson)
}

/** The header lines of a record's header block, as `[name, value]` in order, case kept. */
export function headerLines (block: string): Array<[string, string]> {
  const out: Array<[string, string]> = []
  for (const line of block.split('\r\n')) {
    if (line === '') continue
    const i = line.indexOf(': ')
    out.push(i < 0 ? [line, ''] : [line.slice(0, i), line.slice(i + 2)])
  }
  return out
}
