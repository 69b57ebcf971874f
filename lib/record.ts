// Record codec for the fbr.Request table (schema/request.fbs), written against the
// flatbuffers runtime by hand: five blackhole fields plus our appended ones.
//
// Strings that come from the HTTP request (id, method, uri, headers) are stored as the
// bytes that were received. Node hands them to us as latin1 strings (one char per byte),
// so we encode and decode them as latin1: that is byte-faithful both ways. A string
// holding a character above U+00FF (only possible through the library API) is stored as
// UTF-8 instead, so nothing is ever silently truncated.
import { Builder } from 'flatbuffers'

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

function createBytes (b: Builder, s: string | Uint8Array | undefined): number {
  if (s === undefined) return 0
  if (typeof s !== 'string') return b.createString(s)
  if (NON_LATIN1.test(s)) return b.createString(utf8.encode(s))
  // Same layout as Builder.createString: NUL terminator, bytes, then the u32 length.
  b.addInt8(0)
  b.startVector(1, s.length, 1)
  const bb = b.dataBuffer()
  // `space` is internal to Builder; startVector has reserved room right below it.
  const space = (b as unknown as { space: number }).space -= s.length
  latin1Write.call(bb.bytes(), s, space, s.length)
  return b.endVector()
}

function addUint64 (b: Builder, slot: number, v: bigint | undefined): void {
  if (v === undefined || v === 0n) return
  b.addFieldInt64(slot, BigInt.asIntN(64, v), 0n)
}

/**
 * Builds a finished record in `b` (cleared first) and returns a view of its bytes.
 * The view is only valid until `b` is cleared or reused: copy it out first.
 */
export function buildRequest (b: Builder, r: RequestRecord): Uint8Array {
  b.clear()
  // Strings and vectors first: a table must not be open while they are created.
  const body = r.body ?? null
  const bodyOff = body === null ? 0 : b.createByteVector(body)
  const headersOff = createBytes(b, r.headers)
  const uriOff = createBytes(b, r.uri)
  const methodOff = createBytes(b, r.method)
  const idOff = createBytes(b, r.id)
  const addrOff = r.remoteAddr ? createBytes(b, r.remoteAddr) : 0
  const versionOff = r.httpVersion ? createBytes(b, r.httpVersion) : 0

  b.startObject(FIELD_COUNT)
  // 8-byte fields first keeps the table compact (fewer alignment gaps).
  addUint64(b, Field.timeNs, r.timeNs)
  const bodyLength = r.bodyLength ?? (body === null ? 0 : body.length)
  if (r.bodyTruncated || (body !== null && bodyLength !== body.length) || (body === null && bodyLength !== 0)) {
    b.addFieldInt64(Field.bodyLength, BigInt(bodyLength), 0n)
  }
  addUint64(b, Field.responseTimeNs, r.responseTimeNs)
  if (idOff) b.addFieldOffset(Field.id, idOff, 0)
  if (methodOff) b.addFieldOffset(Field.method, methodOff, 0)
  if (uriOff) b.addFieldOffset(Field.uri, uriOff, 0)
  if (headersOff) b.addFieldOffset(Field.headers, headersOff, 0)
  if (bodyOff) b.addFieldOffset(Field.body, bodyOff, 0)
  if (addrOff) b.addFieldOffset(Field.remoteAddr, addrOff, 0)
  if (versionOff) b.addFieldOffset(Field.httpVersion, versionOff, 0)
  if (r.remotePort) b.addFieldInt16(Field.remotePort, r.remotePort, 0)
  if (r.responseStatus) b.addFieldInt16(Field.responseStatus, r.responseStatus, 0)
  if (r.bodyTruncated) b.addFieldInt8(Field.bodyTruncated, 1, 0)
  b.finish(b.endObject())
  return b.asUint8Array()
}

/** A record whose FlatBuffer structure points outside its bytes. */
export class RecordFormatError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'RecordFormatError'
  }
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

/** A fixed-size pool of builders, so steady-state recording allocates no builder. */
export class BuilderPool {
  readonly #free: Builder[] = []
  readonly #max: number
  readonly #initialSize: number

  constructor (max = 64, initialSize = 4096) {
    this.#max = max
    this.#initialSize = initialSize
  }

  acquire (): Builder {
    return this.#free.pop() ?? new Builder(this.#initialSize)
  }

  /** Builders that grew past `maxKeepBytes` are dropped so one huge record does not pin memory. */
  release (b: Builder, maxKeepBytes = 8 << 20): void {
    if (this.#free.length < this.#max && b.dataBuffer().capacity() <= maxKeepBytes) {
      b.clear()
      this.#free.push(b)
    }
  }

  get size (): number {
    return this.#free.length
  }
}

/** Builds one record with a pooled builder and returns a copy of its bytes. */
export function encodeRequest (r: RequestRecord, pool: BuilderPool = defaultPool): Uint8Array {
  const b = pool.acquire()
  try {
    return buildRequest(b, r).slice()
  } finally {
    pool.release(b)
  }
}

export const defaultPool = new BuilderPool()
