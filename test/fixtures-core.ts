// Helpers shared by the core format tests (record, lz4-frame, interop, archive-reader) only.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import type { TestContext } from 'node:test'
import { ArchiveWriter, type ArchiveWriterOptions, type SealedFile } from '../lib/archive/writer.js'
import { encodeRequest, type DecodedRequest, type RequestRecord } from '../lib/format/record.js'

/** Small seeded PRNG (mulberry32), so every random test is reproducible from its seed. */
export class Rng {
  #a: number
  constructor (seed: number) {
    this.#a = seed >>> 0
  }

  u32 (): number {
    this.#a = (this.#a + 0x6D2B79F5) >>> 0
    let t = this.#a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return (t ^ (t >>> 14)) >>> 0
  }

  /** Integer in [0, n). */
  int (n: number): number {
    return Math.floor((this.u32() / 0x100000000) * n)
  }

  chance (p: number): boolean {
    return this.u32() / 0x100000000 < p
  }

  pick<T> (a: readonly T[]): T {
    return a[this.int(a.length)]
  }

  /** Incompressible bytes. */
  bytes (n: number): Buffer {
    const b = Buffer.allocUnsafe(n)
    let i = 0
    for (; i + 4 <= n; i += 4) b.writeUInt32LE(this.u32(), i)
    for (; i < n; i++) b[i] = this.u32() & 0xFF
    return b
  }

  /** Compressible bytes: words from a small vocabulary. */
  text (n: number): Buffer {
    const words = ['alpha', 'beta', 'gamma', '{"id":', '"value":', 'true', 'null', '\r\n', ' ', '0123456789']
    const parts: string[] = []
    let len = 0
    while (len < n) {
      const w = this.pick(words)
      parts.push(w)
      len += w.length
    }
    return Buffer.from(parts.join(''), 'latin1').subarray(0, n)
  }

  /** A string of `n` chars in [lo, hi]. */
  chars (n: number, lo = 0x20, hi = 0x7E): string {
    let s = ''
    for (let i = 0; i < n; i++) s += String.fromCharCode(lo + this.int(hi - lo + 1))
    return s
  }
}

/** A fresh temporary directory, removed when the test ends. */
export async function tmpDir (t: TestContext, prefix = 'fbh-core-'): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix))
  t.after(() => rm(dir, { recursive: true, force: true }))
  return dir
}

/** The record stream blackhole writes: per record a u64 LE length, then the record. */
export function rawStream (records: readonly Uint8Array[]): Buffer {
  const parts: Buffer[] = []
  for (const r of records) {
    const len = Buffer.alloc(8)
    len.writeBigUInt64LE(BigInt(r.length))
    parts.push(len, Buffer.from(r.buffer, r.byteOffset, r.length))
  }
  return Buffer.concat(parts)
}

/** Stream offsets where each record (length prefix included) ends. */
export function recordEnds (records: readonly Uint8Array[]): number[] {
  const ends: number[] = []
  let at = 0
  for (const r of records) {
    at += 8 + r.length
    ends.push(at)
  }
  return ends
}

const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD']

/** A plausible request record; `i` makes it unique. */
export function randomRecord (rng: Rng, i: number, maxBody = 2000): RequestRecord {
  const lines: string[] = []
  const headerCount = rng.int(12)
  for (let h = 0; h < headerCount; h++) {
    const value = rng.chance(0.1) ? rng.chars(rng.int(40), 0x20, 0xFF) : rng.chars(rng.int(40))
    lines.push(`X-H${h}: ${value}\r\n`)
  }
  const r: RequestRecord = {
    id: `req-${i}-${rng.u32().toString(16)}`,
    method: rng.pick(METHODS),
    uri: `/p/${i}/${rng.chars(rng.int(30), 0x61, 0x7A)}?q=${rng.u32()}`,
    headers: `Host: example.test\r\n${lines.join('')}\r\n`
  }
  const bodyKind = rng.int(4)
  if (bodyKind === 1) r.body = new Uint8Array(0)
  else if (bodyKind === 2) r.body = rng.text(rng.int(maxBody + 1))
  else if (bodyKind === 3) r.body = rng.bytes(rng.int(maxBody + 1))
  if (rng.chance(0.7)) {
    r.timeNs = 1_700_000_000_000_000_000n + BigInt(rng.u32()) * 1000n + BigInt(i)
    r.remoteAddr = rng.chance(0.5) ? `10.0.${rng.int(256)}.${rng.int(256)}` : `2001:db8::${rng.int(0xFFFF).toString(16)}`
    r.remotePort = 1 + rng.int(65535)
    r.httpVersion = rng.pick(['1.0', '1.1', '2.0'])
  }
  if (rng.chance(0.2) && r.body !== undefined && r.body !== null) {
    r.bodyTruncated = true
    r.bodyLength = r.body.length + 1 + rng.int(1 << 20)
  }
  if (rng.chance(0.4)) {
    r.responseStatus = rng.pick([200, 201, 204, 301, 400, 404, 500, 503, 599])
    r.responseTimeNs = BigInt(rng.u32()) * 17n
  }
  return r
}

function storedString (s: string | Uint8Array | undefined): string {
  if (s === undefined) return ''
  if (typeof s !== 'string') return Buffer.from(s).toString('latin1')
  // eslint-disable-next-line no-control-regex
  return /[^\u0000-\u00ff]/.test(s) ? Buffer.from(s, 'utf8').toString('latin1') : s
}

/** What decodeRequest must return for a record built from `r`. */
export function expectedDecoded (r: RequestRecord): DecodedRequest {
  const body = r.body ?? new Uint8Array(0)
  return {
    id: storedString(r.id),
    method: storedString(r.method),
    uri: storedString(r.uri),
    headers: storedString(r.headers),
    body,
    timeNs: r.timeNs ?? 0n,
    remoteAddr: storedString(r.remoteAddr),
    remotePort: r.remotePort ?? 0,
    httpVersion: storedString(r.httpVersion),
    bodyLength: r.bodyLength ?? body.length,
    bodyTruncated: r.bodyTruncated ?? false,
    responseStatus: r.responseStatus ?? 0,
    responseTimeNs: r.responseTimeNs ?? 0n
  }
}

const asBuf = (u: Uint8Array): Buffer => Buffer.from(u.buffer, u.byteOffset, u.length)

/** The DecodedRequest fields only, with the body as a Buffer view, for deepStrictEqual. */
export function comparable (d: DecodedRequest): Record<string, unknown> {
  return {
    id: d.id,
    method: d.method,
    uri: d.uri,
    headers: d.headers,
    body: asBuf(d.body),
    timeNs: d.timeNs,
    remoteAddr: d.remoteAddr,
    remotePort: d.remotePort,
    httpVersion: d.httpVersion,
    bodyLength: d.bodyLength,
    bodyTruncated: d.bodyTruncated,
    responseStatus: d.responseStatus,
    responseTimeNs: d.responseTimeNs
  }
}

/** Asserts that `actual` is what decodeRequest must return for a record built from `expected`. */
export function assertDecoded (actual: DecodedRequest, expected: RequestRecord, msg?: string): void {
  assert.deepStrictEqual(comparable(actual), comparable(expectedDecoded(expected)), msg)
}

/** A step for writeArchive: a record, or a flush (which ends the current batch). */
export type WriteStep = RequestRecord | 'flush'

/** Writes records with an ArchiveWriter, closes it and returns the sealed files in order. */
export async function writeArchive (dir: string, opts: Partial<ArchiveWriterOptions>, steps: readonly WriteStep[]): Promise<SealedFile[]> {
  const sealed: SealedFile[] = []
  const w = new ArchiveWriter({ dir, flushMs: 0, recover: false, ...opts, onSeal: f => sealed.push(f) })
  await w.ready()
  for (const s of steps) {
    if (s === 'flush') await w.flush()
    else assert.equal(w.record(s), true, 'writer dropped a record')
  }
  await w.close()
  const st = w.stats()
  assert.equal(st.recordsDropped, 0)
  assert.equal(st.writeErrors, 0)
  return sealed
}

/** Encoded bytes of the records among `steps`, in order. */
export function encodeSteps (steps: readonly WriteStep[]): Uint8Array[] {
  return steps.filter((s): s is RequestRecord => s !== 'flush').map(r => encodeRequest(r))
}

export interface RunResult {
  stdout: Buffer
  stderr: string
  status: number | null
}

/** Runs a tool; returns its output. Fails the test unless it exits 0 (or `allowFail`). */
export function run (cmd: string, args: readonly string[], opts: { input?: Uint8Array, cwd?: string, allowFail?: boolean } = {}): RunResult {
  const r = spawnSync(cmd, args, { input: opts.input, cwd: opts.cwd, maxBuffer: 512 << 20 })
  if (r.error) throw r.error
  const res = { stdout: r.stdout, stderr: r.stderr.toString(), status: r.status }
  if (!opts.allowFail) assert.equal(r.status, 0, `${cmd} ${args.join(' ')} failed (${r.status}): ${res.stderr}`)
  return res
}

export interface WalkedBlock {
  /** File offset of the block's size word. */
  at: number
  size: number
  /** Bit 31 of the size word: the data is stored uncompressed. */
  stored: boolean
  data: Uint8Array
  checksum: number | null
  /** File offset just past the block (checksum included). */
  end: number
}

export interface WalkedFrame {
  at: number
  flg: number
  bd: number
  contentSize: bigint | null
  /** Header checksum byte and the offset just past it. */
  hc: number
  headerEnd: number
  blocks: WalkedBlock[]
  endMarkAt: number
  contentChecksum: number | null
  end: number
}

/**
 * A deliberately simple LZ4 frame walker written from lz4_Frame_format.md, independent of
 * lib/format/lz4-frame.ts, for checking structure. Throws on any structure it cannot follow.
 */
export function walkFrame (b: Uint8Array, at = 0): WalkedFrame {
  const dv = new DataView(b.buffer, b.byteOffset, b.length)
  assert.equal(dv.getUint32(at, true), 0x184D2204, `no LZ4 frame magic at ${at}`)
  const flg = b[at + 4]
  const bd = b[at + 5]
  let p = at + 6
  let contentSize: bigint | null = null
  if (flg & 0x08) {
    contentSize = dv.getBigUint64(p, true)
    p += 8
  }
  if (flg & 0x01) p += 4
  const hc = b[p++]
  const headerEnd = p
  const blocks: WalkedBlock[] = []
  let endMarkAt: number
  for (;;) {
    const word = dv.getUint32(p, true)
    if (word === 0) {
      endMarkAt = p
      p += 4
      break
    }
    const size = word & 0x7FFFFFFF
    assert.ok(p + 4 + size <= b.length, `block at ${p} of ${size} bytes runs past the end (${b.length})`)
    const data = b.subarray(p + 4, p + 4 + size)
    let end = p + 4 + size
    let checksum: number | null = null
    if (flg & 0x10) {
      checksum = dv.getUint32(end, true)
      end += 4
    }
    blocks.push({ at: p, size, stored: (word >>> 31) === 1, data, checksum, end })
    p = end
  }
  let contentChecksum: number | null = null
  if (flg & 0x04) {
    contentChecksum = dv.getUint32(p, true)
    p += 4
  }
  return { at, flg, bd, contentSize, hc, headerEnd, blocks, endMarkAt, contentChecksum, end: p }
}

/** Every frame of a file, in order; asserts the frames cover the file exactly. */
export function walkFrames (b: Uint8Array): WalkedFrame[] {
  const frames: WalkedFrame[] = []
  let at = 0
  while (at < b.length) {
    const f = walkFrame(b, at)
    frames.push(f)
    at = f.end
  }
  assert.equal(at, b.length)
  return frames
}

export function u64le (n: bigint): Buffer {
  const b = Buffer.alloc(8)
  b.writeBigUInt64LE(n)
  return b
}
