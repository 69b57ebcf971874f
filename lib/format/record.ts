// Record codec for the fbr.Request table (schema/request.fbs), written by hand: five
// blackhole fields plus our appended ones. flatc and the flatbuffers runtime check it in
// the tests, both ways.
//
// Strings that come from the HTTP request (id, method, uri, headers) are stored as the
// bytes that were received. Node hands them to us as latin1 strings (one char per byte),
// so we encode and decode them as latin1: that is byte-faithful both ways. A string
// holding a character above U+00FF (only possible through the library API) is stored as
// UTF-8 instead, so nothing is ever silently truncated.
import { RecordFormatError } from '../errors.js'

export { RecordFormatError }

/** Field slots, in schema order. Never reorder: only append. */
export const Field = {
  id: 0,
  method: 1,
  uri: 2,
  headers: 3,
  body: 4,
  timeNs: 5,
  remoteAddr: 6,
  remotePort: 7,
  httpVersion: 8,
  bodyLength: 9,
  bodyTruncated: 10,
  responseStatus: 11,
  responseTimeNs: 12
} as const
const FIELD_COUNT = 13

/** What goes into a record. Only `method` and `uri` are required by the format's users. */
export interface RequestRecord {
  id?: string | Uint8Array
  method: string | Uint8Array
  uri: string | Uint8Array
  /** Header block: `Name: value\r\n` lines then `\r\n`. */
  headers?: string | Uint8Array
  /**
   * Instead of `headers`: name/value pairs as `IncomingMessage.rawHeaders` holds them (one
   * char per byte), written as the header block without building it as a string first.
   */
  rawHeaders?: readonly string[]
  /** Every string holds one byte per char (true of what Node's HTTP parser gives): skips the check for wider chars. */
  latin1?: boolean
  body?: Uint8Array | null
  /** Arrival time, nanoseconds since the Unix epoch. */
  timeNs?: bigint
  remoteAddr?: string
  remotePort?: number
  httpVersion?: string
  /** Original body length; defaults to `body.length`. Stored when it differs or the body is truncated. */
  bodyLength?: number
  bodyTruncated?: boolean
  responseStatus?: number
  responseTimeNs?: bigint
}

/** A decoded record. Absent appended fields read as their zero value, as FlatBuffers defines. */
export interface DecodedRequest {
  id: string
  method: string
  uri: string
  /** Header block, one char per byte (latin1), exactly as stored. */
  headers: string
  body: Uint8Array
  timeNs: bigint
  remoteAddr: string
  remotePort: number
  httpVersion: string
  /** Original body length (falls back to `body.length` when not stored). */
  bodyLength: number
  bodyTruncated: boolean
  responseStatus: number
  responseTimeNs: bigint
}

const latin1Write = Buffer.prototype.latin1Write
const latin1Slice = Buffer.prototype.latin1Slice
// eslint-disable-next-line no-control-regex
const NON_LATIN1 = /[^\u0000-\u00ff]/
const utf8 = new TextEncoder()

// The table layout every record is written with. FlatBuffers lets a writer place the vtable,
// table and vectors anywhere as long as offsets and alignment hold; a fixed layout lets us
// write a record straight into the batch with no Builder, no temporary copies, and no
// per-record allocation (the flatbuffers Builder cost about half of a record's build time).
// Offsets are from the record's first byte; every scalar sits at a multiple of its size.
const VTABLE = 4
const VTABLE_SIZE = 4 + 2 * FIELD_COUNT
const TABLE = 40
const TABLE_SIZE = 61
/** Where each field sits in the table (relative to TABLE). */
const At = {
  remotePort: 4,
  responseStatus: 6,
  timeNs: 8,
  bodyLength: 16,
  responseTimeNs: 24,
  id: 32,
  method: 36,
  uri: 40,
  headers: 44,
  body: 48,
  remoteAddr: 52,
  httpVersion: 56,
  bodyTruncated: 60
} as const
const VECTORS = TABLE + 64

type Bytes = string | Uint8Array | undefined

/** Bytes of a string field: latin1 strings one per char, others as UTF-8 (see the top of the file). */
function fieldBytes (s: Bytes, latin1: boolean): Bytes {
  return !latin1 && typeof s === 'string' && NON_LATIN1.test(s) ? utf8.encode(s) : s
}

// Little-endian stores as plain byte writes: Buffer's writeUInt*LE validate their arguments
// on every call, and a record makes about forty of them. (A Uint8Array store keeps the low byte.)
function w16 (out: Buffer, p: number, v: number): void {
  out[p] = v
  out[p + 1] = v >>> 8
}

export function w32 (out: Buffer, p: number, v: number): void {
  out[p] = v
  out[p + 1] = v >>> 8
  out[p + 2] = v >>> 16
  out[p + 3] = v >>> 24
}

function zero (out: Buffer, from: number, to: number): void {
  for (let p = from; p < to; p++) out[p] = 0
}

/** Writes a one-byte-per-char string at `pos`; returns the end. */
function putLatin1 (out: Buffer, s: string, pos: number): number {
  const n = s.length
  // Short strings: a plain loop beats a call into C++ and back.
  if (n > 64) return pos + latin1Write.call(out, s, pos, n)
  for (let i = 0; i < n; i++) out[pos + i] = s.charCodeAt(i)
  return pos + n
}

/** Size of the header block rawHeaders make: `Name: value\r\n` per pair, then `\r\n`. */
function rawHeadersLength (raw: readonly string[]): number {
  let n = 2
  for (let i = 0; i + 1 < raw.length; i += 2) n += raw[i].length + raw[i + 1].length + 4
  return n
}

// A long header block (browsers and SDKs send 300 to 800 bytes) is written by one call into
// C++: rawHeaders joined with CRLF have the block's length, and every second CRLF then becomes
// ': '. A short one stays in the JS loop, which costs about 2 ns a byte against the call's
// fixed 0.15 µs (test/bench micro: 80 B 0.2 µs either way; 380 B 0.8 µs → 0.57 µs).
const JOIN_HEADERS_FROM = 160

/** Writes the header block of `raw` (`length` bytes, from rawHeadersLength) at `pos`; returns the end. */
function putRawHeaders (out: Buffer, raw: readonly string[], pos: number, length: number): number {
  if (length >= JOIN_HEADERS_FROM && (raw.length & 1) === 0) {
    const end = pos + latin1Write.call(out, raw.join('\r\n'), pos, length - 4)
    let p = pos
    for (let i = 0; i < raw.length; i += 2) {
      p += raw[i].length
      out[p] = 0x3A // ':'
      out[p + 1] = 0x20
      p += 4 + raw[i + 1].length
    }
    out[end] = 0x0D
    out[end + 1] = 0x0A
    out[end + 2] = 0x0D
    out[end + 3] = 0x0A
    return end + 4
  }
  for (let i = 0; i + 1 < raw.length; i += 2) {
    pos = putLatin1(out, raw[i], pos)
    out[pos++] = 0x3A // ':'
    out[pos++] = 0x20
    pos = putLatin1(out, raw[i + 1], pos)
    out[pos++] = 0x0D
    out[pos++] = 0x0A
  }
  out[pos++] = 0x0D
  out[pos++] = 0x0A
  return pos
}

/** Room a string (NUL-terminated) or byte vector of `length` bytes takes, with its length and padding. */
function vectorRoom (length: number, terminated: boolean): number {
  return length < 0 ? 0 : (4 + length + (terminated ? 1 : 0) + 3) & ~3
}

const lengthOf = (v: Bytes): number => v === undefined ? -1 : v.length

/** Where the vtable entry of field `slot` is, for the record at `base`. */
function slotAt (base: number, slot: number): number {
  return base + VTABLE + 4 + 2 * slot
}

/** Points field `slot` (at `at` in the table) at a vector starting at `pos`, or marks it absent. */
function putSlot (out: Buffer, base: number, slot: number, at: number, pos: number): void {
  const fieldAt = base + TABLE + at
  w16(out, slotAt(base, slot), pos < 0 ? 0 : at)
  w32(out, fieldAt, pos < 0 ? 0 : pos - fieldAt)
}

/** Ends a vector written from `pos + 4` to `end`: its length, the NUL of strings, padding to 4. */
function endVector (out: Buffer, base: number, pos: number, end: number, terminated: boolean): number {
  w32(out, pos, end - pos - 4)
  if (terminated) out[end++] = 0
  while (((end - base) & 3) !== 0) out[end++] = 0
  return end
}

/**
 * Writes a string field at `pos` and points its table field at it; returns the next free
 * position. Empty strings are stored (an absent field and "" read the same anyway).
 */
function putString (t: RecordTarget, out: Buffer, base: number, slot: number, at: number, pos: number, v: Bytes): number {
  if (v === undefined) {
    putSlot(out, base, slot, at, -1)
    return pos
  }
  putSlot(out, base, slot, at, pos)
  let end: number
  if (typeof v === 'string') {
    end = putLatin1(out, v, pos + 4)
  } else {
    putBytes(out, v, pos + 4, t.shared)
    end = pos + 4 + v.length
  }
  return endVector(out, base, pos, end, true)
}

const NO_VIEW = new DataView(new ArrayBuffer(0))

/**
 * The buffer records are being written into: a DataView of it (Buffer.writeBigUInt64LE splits
 * the BigInt with BigInt arithmetic; DataView writes it natively) and whether its memory is
 * shared. Kept per buffer, since reading `out.buffer` is a call into C++. Each writer owns one,
 * so one writer letting go of its buffers never touches another's.
 */
export class RecordTarget {
  #out: Buffer | null = null
  view: DataView = NO_VIEW
  shared = false

  /** Points at `out` (nothing to do when it already does). */
  set (out: Buffer): void {
    if (out === this.#out) return
    this.#out = out
    this.view = new DataView(out.buffer, out.byteOffset, out.length)
    this.shared = out.buffer instanceof SharedArrayBuffer
  }

  /** Lets go of the last buffer written (a closed writer's batch would otherwise stay alive here). */
  release (): void {
    this.#out = null
    this.view = NO_VIEW
    this.shared = false
  }

  /** `putBytes` for any buffer (the writer's `append`). */
  copy (out: Buffer, src: Uint8Array, at: number): void {
    this.set(out)
    putBytes(out, src, at, this.shared)
  }
}

/**
 * Copies `src` to `out[at]`. Into shared memory (the compression thread's batches),
 * TypedArray.set copies byte by byte unless both ends share their alignment within 8 bytes
 * (V8's relaxed memmove: 0.85 µs for a 2 KB body); Buffer.fill with a buffer as the value is a
 * memcpy in C++ (0.1 µs). Short copies stay with set, which has no call overhead.
 */
function putBytes (out: Buffer, src: Uint8Array, at: number, shared: boolean): void {
  if (shared && src.length >= 128) out.fill(src, at, at + src.length)
  else out.set(src, at)
}

function putU64 (t: RecordTarget, out: Buffer, base: number, slot: number, at: number, v: bigint | undefined): void {
  const p = base + TABLE + at
  if (v === undefined || v === 0n) {
    // Absent (the usual case for two of the three): no BigInt work.
    w16(out, slotAt(base, slot), 0)
    w32(out, p, 0)
    w32(out, p + 4, 0)
    return
  }
  w16(out, slotAt(base, slot), at)
  t.view.setBigUint64(p, BigInt.asUintN(64, v), true)
}

function putU16 (out: Buffer, base: number, slot: number, at: number, v: number | undefined): void {
  const present = v !== undefined && v !== 0
  w16(out, slotAt(base, slot), present ? at : 0)
  w16(out, base + TABLE + at, present ? v : 0)
}

/** A record's parts, ready to write: sized once, written once. */
export class PreparedRequest {
  id: Bytes
  method: Bytes
  uri: Bytes
  headers: Bytes
  remoteAddr: Bytes
  httpVersion: Bytes
  /** Length of the header block when it comes from rawHeaders (-1: from `headers`). */
  rawHeadersLength = -1
  /** The record's size in bytes. */
  size = 0

  constructor (readonly r: RequestRecord) {
    const latin1 = r.latin1 === true
    this.id = fieldBytes(r.id, latin1)
    this.method = fieldBytes(r.method, latin1)
    this.uri = fieldBytes(r.uri, latin1)
    this.headers = fieldBytes(r.headers, latin1)
    if (this.headers === undefined && r.rawHeaders !== undefined) this.rawHeadersLength = rawHeadersLength(r.rawHeaders)
    this.remoteAddr = r.remoteAddr ? fieldBytes(r.remoteAddr, latin1) : undefined
    this.httpVersion = r.httpVersion ? fieldBytes(r.httpVersion, latin1) : undefined
    this.size = VECTORS + vectorRoom(lengthOf(this.id), true) + vectorRoom(lengthOf(this.method), true) +
      vectorRoom(lengthOf(this.uri), true) + vectorRoom(this.rawHeadersLength >= 0 ? this.rawHeadersLength : lengthOf(this.headers), true) +
      vectorRoom(r.body == null ? -1 : r.body.length, false) + vectorRoom(lengthOf(this.remoteAddr), true) +
      vectorRoom(lengthOf(this.httpVersion), true)
  }

  /**
   * Writes the record at `out[base]`; `out` must have `size` bytes from there. Returns `size`.
   * A writer passes its own target, which remembers the buffer across records.
   */
  writeTo (out: Buffer, base: number, t: RecordTarget = new RecordTarget()): number {
    const r = this.r
    t.set(out)
    w32(out, base, TABLE)
    w16(out, base + VTABLE, VTABLE_SIZE)
    w16(out, base + VTABLE + 2, TABLE_SIZE)
    zero(out, base + VTABLE + VTABLE_SIZE, base + TABLE)
    w32(out, base + TABLE, TABLE - VTABLE)
    const body = r.body ?? null
    putU16(out, base, Field.remotePort, At.remotePort, r.remotePort)
    putU16(out, base, Field.responseStatus, At.responseStatus, r.responseStatus)
    putU64(t, out, base, Field.timeNs, At.timeNs, r.timeNs)
    const bodyLength = r.bodyLength ?? (body === null ? 0 : body.length)
    const storeLength = r.bodyTruncated === true || (body !== null && bodyLength !== body.length) || (body === null && bodyLength !== 0)
    putU64(t, out, base, Field.bodyLength, At.bodyLength, storeLength ? BigInt(bodyLength) : undefined)
    putU64(t, out, base, Field.responseTimeNs, At.responseTimeNs, r.responseTimeNs)
    let pos = base + VECTORS
    pos = putString(t, out, base, Field.id, At.id, pos, this.id)
    pos = putString(t, out, base, Field.method, At.method, pos, this.method)
    pos = putString(t, out, base, Field.uri, At.uri, pos, this.uri)
    if (this.rawHeadersLength >= 0) {
      putSlot(out, base, Field.headers, At.headers, pos)
      pos = endVector(out, base, pos, putRawHeaders(out, r.rawHeaders as readonly string[], pos + 4, this.rawHeadersLength), true)
    } else {
      pos = putString(t, out, base, Field.headers, At.headers, pos, this.headers)
    }
    if (body === null) {
      putSlot(out, base, Field.body, At.body, -1)
    } else {
      putSlot(out, base, Field.body, At.body, pos)
      putBytes(out, body, pos + 4, t.shared)
      pos = endVector(out, base, pos, pos + 4 + body.length, false)
    }
    pos = putString(t, out, base, Field.remoteAddr, At.remoteAddr, pos, this.remoteAddr)
    pos = putString(t, out, base, Field.httpVersion, At.httpVersion, pos, this.httpVersion)
    const truncated = r.bodyTruncated === true
    w16(out, slotAt(base, Field.bodyTruncated), truncated ? At.bodyTruncated : 0)
    out[base + TABLE + At.bodyTruncated] = truncated ? 1 : 0
    zero(out, base + TABLE + TABLE_SIZE, base + VECTORS)
    return pos - base
  }
}

/** Encodes one record into a new array of its own (a plain Uint8Array, not a pooled Buffer). */
export function encodeRequest (r: RequestRecord): Uint8Array {
  const p = new PreparedRequest(r)
  const out = Buffer.alloc(p.size)
  p.writeTo(out, 0)
  return new Uint8Array(out.buffer, out.byteOffset, out.length)
}

/**
 * Reads a FlatBuffers fbr.Request. Every offset is checked against the record's bounds,
 * so a corrupt record gives a RecordFormatError instead of garbage or a RangeError.
 * `body` is a view into `bytes` (no copy).
 */
export function decodeRequest (bytes: Uint8Array): DecodedRequest {
  const n = bytes.length
  if (n < 8) throw new RecordFormatError(`record of ${n} bytes is too short for a FlatBuffers table`)
  const dv = new DataView(bytes.buffer, bytes.byteOffset, n)
  const table = dv.getUint32(0, true)
  if (table + 4 > n) throw new RecordFormatError(`root table offset ${table} is outside the record (${n} bytes)`)
  const vtable = table - dv.getInt32(table, true)
  if (vtable < 0 || vtable + 4 > n) throw new RecordFormatError(`vtable offset ${vtable} is outside the record (${n} bytes)`)
  const vtSize = dv.getUint16(vtable, true)
  const tableSize = dv.getUint16(vtable + 2, true)
  if (vtSize < 4 || (vtSize & 1) !== 0 || vtable + vtSize > n) throw new RecordFormatError(`bad vtable size ${vtSize}`)
  if (table + tableSize > n) throw new RecordFormatError(`table of ${tableSize} bytes runs past the record (${n} bytes)`)
  const fields = (vtSize - 4) >> 1

  const fieldPos = (slot: number, width: number): number => {
    if (slot >= fields) return 0
    const off = dv.getUint16(vtable + 4 + slot * 2, true)
    if (off === 0) return 0
    if (off + width > tableSize) throw new RecordFormatError(`field ${slot} lies outside its table`)
    return table + off
  }
  const vector = (slot: number): [number, number] => {
    const p = fieldPos(slot, 4)
    if (p === 0) return [0, 0]
    const start = p + dv.getUint32(p, true)
    if (start + 4 > n) throw new RecordFormatError(`field ${slot} points outside the record`)
    const len = dv.getUint32(start, true)
    if (start + 4 + len > n) throw new RecordFormatError(`field ${slot} (${len} bytes) runs past the record`)
    return [start + 4, len]
  }
  const str = (slot: number): string => {
    const [s, len] = vector(slot)
    return len === 0 ? '' : latin1Slice.call(bytes, s, s + len)
  }
  const u64 = (slot: number): bigint => {
    const p = fieldPos(slot, 8)
    return p === 0 ? 0n : dv.getBigUint64(p, true)
  }
  const u16 = (slot: number): number => {
    const p = fieldPos(slot, 2)
    return p === 0 ? 0 : dv.getUint16(p, true)
  }
  const [bodyStart, bodyLen] = vector(Field.body)
  const bodyLength = u64(Field.bodyLength)
  const truncated = fieldPos(Field.bodyTruncated, 1)
  return {
    id: str(Field.id),
    method: str(Field.method),
    uri: str(Field.uri),
    headers: str(Field.headers),
    body: bytes.subarray(bodyStart, bodyStart + bodyLen),
    timeNs: u64(Field.timeNs),
    remoteAddr: str(Field.remoteAddr),
    remotePort: u16(Field.remotePort),
    httpVersion: str(Field.httpVersion),
    bodyLength: bodyLength === 0n ? bodyLen : Number(bodyLength),
    bodyTruncated: truncated !== 0 && bytes[truncated] !== 0,
    responseStatus: u16(Field.responseStatus),
    responseTimeNs: u64(Field.responseTimeNs)
  }
}
