// Helpers shared by archive-writer.test.ts, recover.test.ts and cli.test.ts.
//
// Run as a script it is the crash child used by recover.test.ts:
//   node fixtures-writer.js crash DIR CODEC N M
// opens an ArchiveWriter on DIR, appends N records, awaits flush(), appends M more without
// flushing, prints {"pid","tmp"} as one JSON line and kills itself with SIGKILL.
import { spawn, spawnSync } from 'node:child_process'
import { writeSync } from 'node:fs'
import { readdir } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { ArchiveWriter } from '../lib/archive/writer.js'
import { readArchive, readFileRecords } from '../lib/archive/reader.js'
import type { CodecName } from '../lib/format/codecs.js'
import { encodeRequest, type RequestRecord } from '../lib/format/record.js'
import { isAlive } from '../lib/archive/recover.js'
import { noise } from './tools.js'
export { tmpDir, rmDir, noise } from './tools.js'

const here = path.dirname(fileURLToPath(import.meta.url))

/** The compiled CLI next to this compiled file (dist-…/preset/cli.js). */
export const CLI = path.join(here, '..', 'preset', 'cli.js')
/** This file, compiled: the crash child script. */
export const FIXTURE_SCRIPT = fileURLToPath(import.meta.url)

/** The record number `i` of a test stream: uri `/r/<i>`, id `id-<i>`. */
export function recordOf (i: number, bodyBytes = 64, random = false): RequestRecord {
  return {
    id: `id-${i}`,
    method: i % 2 === 0 ? 'GET' : 'POST',
    uri: `/r/${i}`,
    headers: `Host: example.test\r\nX-Seq: ${i}\r\n\r\n`,
    body: random ? noise(bodyBytes, i + 1) : Buffer.from(`body ${i} `.repeat(Math.ceil(bodyBytes / 8)).slice(0, bodyBytes)),
    timeNs: 1_700_000_000_000_000_000n + BigInt(i)
  }
}

export function encoded (i: number, bodyBytes = 64, random = false): Uint8Array {
  return encodeRequest(recordOf(i, bodyBytes, random))
}

/** The uris of every record under `paths`, in read order. */
export async function readUris (paths: string | string[]): Promise<string[]> {
  const out: string[] = []
  for await (const r of readArchive(paths)) out.push(r.uri)
  return out
}

/** Count of whole records in one file, and the error that stopped reading, if any. */
export async function countRecords (file: string): Promise<{ records: number, error: Error | null }> {
  let records = 0
  try {
    // eslint-disable-next-line @typescript-eslint/no-unused-vars
    for await (const _ of readFileRecords(file)) records++
  } catch (err) {
    return { records, error: err as Error }
  }
  return { records, error: null }
}

export const uriRange = (from: number, to: number): string[] => Array.from({ length: to - from }, (_, k) => `/r/${from + k}`)

/** `lz4 -t FILE`: exit status and stderr. */
export function lz4Test (file: string): { status: number | null, stderr: string } {
  const r = spawnSync('lz4', ['-t', file], { encoding: 'utf8' })
  return { status: r.status, stderr: r.stderr }
}

/** `lz4 -dc FILE`: the decompressed content. */
export function lz4Decompress (file: string): Buffer {
  const r = spawnSync('lz4', ['-dc', file], { maxBuffer: 64 << 20 })
  if (r.status !== 0) throw new Error(`lz4 -dc ${file} failed: ${r.stderr.toString()}`)
  return r.stdout
}

/** The record stream (`[u64 LE length][record]`...) of a list of records. */
export function recordStream (records: Uint8Array[]): Buffer {
  const parts: Buffer[] = []
  for (const r of records) {
    const len = Buffer.alloc(8)
    len.writeUInt32LE(r.length, 0)
    parts.push(len, Buffer.from(r))
  }
  return Buffer.concat(parts)
}

/**
 * Walks one LZ4 frame written by the writer (7-byte header, no content size) and returns the
 * file offset just after each block (checksum included), and the offset of the end mark.
 */
export function blockEnds (file: Buffer): { ends: number[], endMark: number } {
  if (file.readUInt32LE(0) !== 0x184D2204) throw new Error('not an LZ4 frame')
  const blockChecksum = (file[4] & 0x10) !== 0
  let at = 7
  const ends: number[] = []
  for (;;) {
    const word = file.readUInt32LE(at)
    if (word === 0) return { ends, endMark: at }
    at += 4 + (word & 0x7FFFFFFF) + (blockChecksum ? 4 : 0)
    ends.push(at)
  }
}

export { isAlive }

/** A pid that no process has: 999999 unless taken. */
export function deadPid (): number {
  for (let pid = 999999; pid > 900000; pid--) if (!isAlive(pid)) return pid
  throw new Error('no free pid found')
}

export interface RunResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

/** Runs `node script ...args` and collects its output. */
export function runNode (script: string, args: string[], timeoutMs = 20_000): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    const out: Buffer[] = []
    const err: Buffer[] = []
    child.stdout.on('data', (c: Buffer) => out.push(c))
    child.stderr.on('data', (c: Buffer) => err.push(c))
    const timer = setTimeout(() => { child.kill('SIGKILL') }, timeoutMs)
    child.on('error', reject)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') })
    })
  })
}

export function runCli (args: string[]): Promise<RunResult> {
  return runNode(CLI, args)
}

/** Polls `cond` every 10 ms until it holds; throws after `timeoutMs`. */
export async function waitFor (what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!await cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 10))
  }
}

export const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

export async function listDir (dir: string): Promise<string[]> {
  return (await readdir(dir)).sort()
}

/** A fake pino-style logger that records every call. */
export function fakeLogger (): { calls: Array<{ level: string, obj: Record<string, unknown>, msg: string | undefined }>, info: (o: object, m?: string) => void, warn: (o: object, m?: string) => void, error: (o: object, m?: string) => void } {
  const calls: Array<{ level: string, obj: Record<string, unknown>, msg: string | undefined }> = []
  const at = (level: string) => (obj: object, msg?: string): void => { calls.push({ level, obj: obj as Record<string, unknown>, msg }) }
  return { calls, info: at('info'), warn: at('warn'), error: at('error') }
}

async function crashChild (dir: string, codec: CodecName, n: number, m: number): Promise<void> {
  const w = new ArchiveWriter({ dir, codec, flushMs: 0, batchBytes: 1 << 20, recover: false })
  await w.ready()
  for (let i = 0; i < n; i++) w.append(encoded(i))
  await w.flush()
  for (let i = n; i < n + m; i++) w.append(encoded(i))
  writeSync(1, JSON.stringify({ pid: process.pid, tmp: w.stats().currentFile, written: w.stats().recordsWritten }) + '\n')
  process.kill(process.pid, 'SIGKILL')
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === FIXTURE_SCRIPT && process.argv[2] === 'crash') {
  const [dir, codec, n, m] = process.argv.slice(3)
  await crashChild(dir, codec as CodecName, Number(n), Number(m))
}
