// Helpers for interchange.test.ts: archives of known records, the CLI as a child process, and a
// loopback HTTP server that keeps what it receives.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, readdir, rename, rm } from 'node:fs/promises'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { ArchiveWriter } from '../lib/archive/writer.js'
import { readArchive } from '../lib/archive/reader.js'
import type { CodecName } from '../lib/format/codecs.js'
import { toJson, type RecordJson } from '../lib/interchange/dump.js'
import type { RequestRecord } from '../lib/format/record.js'

const here = path.dirname(fileURLToPath(import.meta.url))

/** The compiled CLI next to this compiled file (dist-…/preset/cli.js). */
export const CLI = path.join(here, '..', 'preset', 'cli.js')

export async function tmpDir (tag: string): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), `fbh-${tag}-`))
}

export async function rmDir (dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true })
}

export interface RunResult {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs the CLI with `args`; stdout is read as latin1 so binary output stays byte-exact. */
export async function runCli (args: string[], opts: { cwd?: string, stdin?: string | Buffer } = {}): Promise<RunResult> {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'] })
  const out: Buffer[] = []
  const err: Buffer[] = []
  child.stdout.on('data', (c: Buffer) => out.push(c))
  child.stderr.on('data', (c: Buffer) => err.push(c))
  child.stdin.end(opts.stdin ?? '')
  const [code] = await once(child, 'close') as [number | null]
  return { code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }
}

/** Writes `records` as one sealed archive file named `name` in `dir`; returns its path. */
export async function writeArchive (dir: string, records: RequestRecord[], name = 'requests_20240101000000_1-00000001.fbf.lz4', codec: CodecName = 'lz4js'): Promise<string> {
  const work = await tmpDir('work')
  try {
    const w = new ArchiveWriter({ dir: work, codec, flushOnExit: false })
    for (const r of records) if (!w.record(r)) throw new Error('record dropped')
    await w.close()
    const [written] = (await readdir(work)).filter(n => n.includes('.fbf'))
    const target = path.join(dir, name)
    await rename(path.join(work, written), target)
    return target
  } finally {
    await rmDir(work)
  }
}

/** Every record under `paths` in `dump --json` shape, without `file`. */
export async function recordsJson (paths: string | string[]): Promise<RecordJson[]> {
  const out: RecordJson[] = []
  for await (const r of readArchive(paths)) out.push(toJson(r))
  return out
}

export interface Received {
  method: string
  url: string
  httpVersion: string
  /** The header block rebuilt from rawHeaders: `Name: value\r\n` lines then `\r\n`. */
  headers: string
  body: Buffer
}

/** A node:http server on 127.0.0.1 that answers 204 and keeps every request it receives. */
export async function recordingServer (): Promise<{ origin: string, port: number, received: Received[], close: () => Promise<void> }> {
  const received: Received[] = []
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      let headers = ''
      for (let i = 0; i < req.rawHeaders.length; i += 2) headers += `${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}\r\n`
      received.push({ method: req.method ?? '', url: req.url ?? '', httpVersion: req.httpVersion, headers: headers + '\r\n', body: Buffer.concat(chunks) })
      res.writeHead(204).end()
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const port = (server.address() as AddressInfo).port
  return {
    origin: `http://127.0.0.1:${port}`,
    port,
    received,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>(resolve => server.close(() => resolve()))
    }
  }
}

const T0 = 1_700_000_000_123_456_789n

/** 256 bytes 0x00..0xFF: not UTF-8, with every control byte. */
export const BINARY = Buffer.from(Array.from({ length: 256 }, (_, i) => i))

/**
 * Records covering the round-trip cases: text, binary, empty and truncated bodies, a BOM,
 * latin1 and UTF-8 bytes in headers, duplicates and odd case, header lines a HAR list cannot
 * rebuild, absolute-form and `*` targets, no Host, no time, no version, HTTP/2 pseudo-headers.
 */
export const RECORDS: RequestRecord[] = [
  {
    id: 'text-1',
    method: 'POST',
    uri: '/orders?id=7&name=caf%C3%A9&flag',
    headers: 'Host: example.test\r\nContent-Type: application/json\r\nCookie: session=abc; theme=dark\r\nX-Dup: one\r\nX-Dup: two\r\nx-MiXeD-CaSe: v\r\nContent-Length: 28\r\n\r\n',
    body: Buffer.from('{"hello":"wörld","n":[1,2]}'),
    timeNs: T0,
    remoteAddr: '10.0.0.5',
    remotePort: 40000,
    httpVersion: '1.1',
    responseStatus: 201,
    responseTimeNs: 1_234_567n
  },
  {
    id: 'bin/2',
    method: 'PUT',
    uri: '/upload/blob',
    headers: 'Host: example.test\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n',
    body: BINARY,
    timeNs: T0 + 1_000_000_000n,
    remoteAddr: '::1',
    remotePort: 40001,
    httpVersion: '1.1'
  },
  {
    id: 'empty-3',
    method: 'GET',
    uri: '/',
    headers: 'Host: example.test\r\nAccept: */*\r\n\r\n',
    body: Buffer.alloc(0),
    timeNs: T0 + 2_000_000_000n,
    httpVersion: '1.0'
  },
  {
    id: 'latin1-4',
    method: 'PATCH',
    uri: '/caf\u00e9/r\u00e9sum\u00e9?q=\u00ff',
    // A raw 0xE9 byte, UTF-8 "é" (C3 A9) read as two latin1 chars, no space after a colon,
    // two spaces before a value, a tab.
    headers: 'Host: example.test\r\nX-Latin1: caf\u00e9\r\nX-Utf8: caf\u00c3\u00a9\r\nX-NoSpace:v\r\nX-Two:  spaced\r\nX-Tab:\tt\r\n\r\n',
    body: Buffer.from('caf\u00e9', 'latin1'),
    timeNs: T0 + 3_000_000_000n,
    httpVersion: '1.1'
  },
  {
    id: 'abs-5',
    method: 'DELETE',
    uri: 'http://upstream.test:8080/items/9?force=1',
    headers: 'Host: upstream.test:8080\r\n\r\n',
    timeNs: T0 + 3_500_000_000n,
    httpVersion: '1.1'
  },
  {
    id: 'star-6',
    method: 'OPTIONS',
    uri: '*',
    headers: 'User-Agent: x\r\n\r\n', // no Host at all
    timeNs: T0 + 3_600_000_000n,
    httpVersion: '1.0'
  },
  {
    id: 'trunc-7',
    method: 'POST',
    uri: '/big',
    headers: 'Host: example.test\r\nContent-Length: 100000\r\n\r\n',
    body: Buffer.from('first bytes only'),
    bodyLength: 100000,
    bodyTruncated: true,
    timeNs: T0 + 4_000_000_000n,
    httpVersion: '1.1'
  },
  {
    id: 'bom-8',
    method: 'POST',
    uri: '/bom',
    headers: 'Host: example.test\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n',
    body: Buffer.from('\ufeffline one\r\nline two\ttab'),
    timeNs: T0 + 4_500_000_000n,
    httpVersion: '1.1'
  },
  {
    // blackhole's own records: no time, no version, no client address.
    id: 'FH-9',
    method: 'POST',
    uri: '/legacy',
    headers: 'Host: example.test\r\nContent-Type: text/plain\r\n\r\n',
    body: Buffer.from('plain')
  },
  {
    id: 'h2-10',
    method: 'GET',
    uri: '/h2?x=1',
    headers: ':method: GET\r\n:path: /h2?x=1\r\n:authority: example.test\r\n:scheme: https\r\naccept: text/html\r\n\r\n',
    timeNs: T0 + 5_000_000_000n,
    httpVersion: '2.0',
    responseStatus: 404,
    responseTimeNs: 5_000_000n
  }
]
