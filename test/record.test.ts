// The record codec (lib/format/record.ts): round trips, the stored bytes read back by the flatbuffers
// runtime, alignment, defaults of the appended fields, blackhole-style records built with the
// plain flatbuffers API, writing in place, and decodeRequest's robustness against damaged bytes.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Builder, ByteBuffer } from 'flatbuffers'
import { decodeRequest, encodeRequest, Field, PreparedRequest, RecordFormatError, type RequestRecord } from '../lib/format/record.js'
import { assertDecoded, randomRecord, Rng } from './fixtures-core.js'

// --- a minimal FlatBuffers reader, independent of lib/format/record.ts, to look at stored bytes ---

interface Layout {
  table: number
  vtable: number
  vtSize: number
  /** Field offset inside the table per slot (0 = absent). */
  slots: number[]
}

function layout (rec: Uint8Array): Layout {
  const dv = new DataView(rec.buffer, rec.byteOffset, rec.length)
  const table = dv.getUint32(0, true)
  const vtable = table - dv.getInt32(table, true)
  const vtSize = dv.getUint16(vtable, true)
  const slots: number[] = []
  for (let i = 0; i < (vtSize - 4) / 2; i++) slots.push(dv.getUint16(vtable + 4 + i * 2, true))
  return { table, vtable, vtSize, slots }
}

/** Absolute position of a scalar field, or -1 when absent. */
function scalarPos (rec: Uint8Array, slot: number): number {
  const l = layout(rec)
  const off = l.slots[slot] ?? 0
  return off === 0 ? -1 : l.table + off
}

/** The raw bytes of a string or vector field, or null when absent. */
function vectorBytes (rec: Uint8Array, slot: number): Buffer | null {
  const p = scalarPos(rec, slot)
  if (p < 0) return null
  const b = Buffer.from(rec.buffer, rec.byteOffset, rec.length)
  const start = p + b.readUInt32LE(p)
  const len = b.readUInt32LE(start)
  return b.subarray(start + 4, start + 4 + len)
}

const u64At = (rec: Uint8Array, slot: number): bigint => Buffer.from(rec.buffer, rec.byteOffset, rec.length).readBigUInt64LE(scalarPos(rec, slot))
const u16At = (rec: Uint8Array, slot: number): number => Buffer.from(rec.buffer, rec.byteOffset, rec.length).readUInt16LE(scalarPos(rec, slot))

function roundTrip (r: RequestRecord): Uint8Array {
  const bytes = encodeRequest(r)
  assertDecoded(decodeRequest(bytes), r)
  return bytes
}

/** Reads a record with the flatbuffers runtime's own accessors, as generated code does. */
function runtimeRead (rec: Uint8Array): Record<string, unknown> {
  const bb = new ByteBuffer(rec)
  const table = bb.readUint32(bb.position()) + bb.position()
  const off = (slot: number): number => bb.__offset(table, 4 + 2 * slot)
  const str = (slot: number): string | null => {
    const o = off(slot)
    return o === 0 ? null : Buffer.from(bb.__string(table + o, 1 /* Encoding.UTF8_BYTES */) as Uint8Array).toString('latin1')
  }
  const bodyOff = off(Field.body)
  return {
    id: str(Field.id),
    method: str(Field.method),
    uri: str(Field.uri),
    headers: str(Field.headers),
    body: bodyOff === 0 ? null : Buffer.from(rec.subarray(bb.__vector(table + bodyOff), bb.__vector(table + bodyOff) + bb.__vector_len(table + bodyOff))),
    timeNs: off(Field.timeNs) === 0 ? 0n : bb.readUint64(table + off(Field.timeNs)),
    remotePort: off(Field.remotePort) === 0 ? 0 : bb.readUint16(table + off(Field.remotePort)),
    responseStatus: off(Field.responseStatus) === 0 ? 0 : bb.readUint16(table + off(Field.responseStatus)),
    bodyTruncated: off(Field.bodyTruncated) === 0 ? false : bb.readInt8(table + off(Field.bodyTruncated)) !== 0
  }
}

test('random records round trip; the flatbuffers runtime reads the same fields; every value is aligned', () => {
  const rng = new Rng(0xB1AC)
  for (let i = 0; i < 600; i++) {
    const r = randomRecord(rng, i)
    const bytes = roundTrip(r)
    const d = decodeRequest(bytes)
    const rt = runtimeRead(bytes)
    assert.equal(rt.method, d.method, `record ${i}`)
    assert.equal(rt.uri, d.uri)
    assert.equal(rt.headers ?? '', d.headers)
    assert.equal(rt.id ?? '', d.id)
    assert.deepStrictEqual(rt.body ?? Buffer.alloc(0), Buffer.from(d.body))
    assert.equal(rt.timeNs, d.timeNs)
    assert.equal(rt.remotePort, d.remotePort)
    assert.equal(rt.responseStatus, d.responseStatus)
    assert.equal(rt.bodyTruncated, d.bodyTruncated)
    // What a FlatBuffers verifier checks: every scalar at a multiple of its size.
    const l = layout(bytes)
    assert.equal(l.table % 4, 0)
    assert.equal(l.vtable % 2, 0)
    const widths: Record<number, number> = { [Field.timeNs]: 8, [Field.bodyLength]: 8, [Field.responseTimeNs]: 8, [Field.remotePort]: 2, [Field.responseStatus]: 2, [Field.bodyTruncated]: 1 }
    l.slots.forEach((o, slot) => {
      if (o === 0) return
      const w = widths[slot] ?? 4
      assert.equal((l.table + o) % w, 0, `record ${i} field ${slot} at ${l.table + o} is not ${w}-aligned`)
      if (w === 4) assert.equal(vectorBytes(bytes, slot)!.byteOffset % 4, 0)
    })
  }
})

test('empty, null and absent bodies', () => {
  const empty = roundTrip({ method: 'GET', uri: '/', body: new Uint8Array(0) })
  assert.deepStrictEqual(vectorBytes(empty, Field.body), Buffer.alloc(0), 'an empty body is stored as an empty vector')
  for (const r of [{ method: 'GET', uri: '/', body: null }, { method: 'GET', uri: '/' }]) {
    const bytes = roundTrip(r)
    assert.equal(vectorBytes(bytes, Field.body), null, 'no body: no body field')
    const d = decodeRequest(bytes)
    assert.equal(d.body.length, 0)
    assert.equal(d.bodyLength, 0)
  }
  // A body that was not kept at all, but whose length is known.
  const dropped = roundTrip({ method: 'POST', uri: '/', body: null, bodyLength: 1234, bodyTruncated: true })
  assert.equal(u64At(dropped, Field.bodyLength), 1234n)
})

test('a binary body with every byte value is stored verbatim', () => {
  const body = new Uint8Array(256 * 4)
  for (let i = 0; i < body.length; i++) body[i] = (i * 7) & 0xFF
  const bytes = roundTrip({ method: 'POST', uri: '/bin', body })
  assert.deepStrictEqual(vectorBytes(bytes, Field.body), Buffer.from(body))
  const d = decodeRequest(bytes)
  assert.equal(new Set(d.body).size, 256)
  assert.equal(d.bodyLength, 1024)
})

test('a 5 MiB body round trips', () => {
  const body = new Rng(5).bytes(5 << 20)
  const bytes = roundTrip({ method: 'PUT', uri: '/big', body, headers: 'Content-Length: 5242880\r\n\r\n' })
  assert.ok(bytes.length > (5 << 20) && bytes.length < (5 << 20) + 256, `record is ${bytes.length} bytes`)
  assert.ok(vectorBytes(bytes, Field.body)?.equals(body))
})

test('strings of bytes up to U+00FF are stored one byte per char (latin1)', () => {
  const headers = 'X-Name: caf\xe9\xff\x80\x00\r\nX-Plain: a\r\n\r\n'
  const r = { id: 'id-\xe9', method: 'G\xc9T', uri: '/caf\xe9?x=\xff', headers }
  const bytes = roundTrip(r)
  assert.deepStrictEqual(vectorBytes(bytes, Field.headers), Buffer.from(headers, 'latin1'))
  assert.deepStrictEqual(vectorBytes(bytes, Field.headers)?.subarray(11, 15), Buffer.from([0xE9, 0xFF, 0x80, 0x00]))
  assert.deepStrictEqual(vectorBytes(bytes, Field.id), Buffer.from([0x69, 0x64, 0x2D, 0xE9]))
  assert.deepStrictEqual(vectorBytes(bytes, Field.method), Buffer.from([0x47, 0xC9, 0x54]))
  assert.deepStrictEqual(vectorBytes(bytes, Field.uri), Buffer.from('/caf\xe9?x=\xff', 'latin1'))
})

test('a header block of 5000 lines round trips byte for byte', () => {
  const lines: string[] = []
  for (let i = 0; i < 5000; i++) lines.push(`X-Header-${i}: value-${i}-\xe9${i % 3 === 0 ? ' \xff' : ''}\r\n`)
  const headers = lines.join('') + '\r\n'
  const bytes = roundTrip({ method: 'GET', uri: '/many', headers })
  const stored = vectorBytes(bytes, Field.headers)
  assert.equal(stored?.length, headers.length)
  assert.deepStrictEqual(stored, Buffer.from(headers, 'latin1'))
  assert.equal(decodeRequest(bytes).headers.split('\r\n').length, 5002)
})

test('strings with characters above U+00FF are stored as UTF-8', () => {
  const id = 'r\xe9-\u20ac-\u{1F600}'
  const uri = '/\u0100/\u4e2d\u6587'
  const r = { id, method: 'GET', uri, headers: 'X-Emoji: \u{1F4A9}\r\n\r\n' }
  const bytes = roundTrip(r)
  // Every char of such a string goes through UTF-8, the latin1 ones too (\xe9 becomes C3 A9).
  assert.deepStrictEqual(vectorBytes(bytes, Field.id), Buffer.from([0x72, 0xC3, 0xA9, 0x2D, 0xE2, 0x82, 0xAC, 0x2D, 0xF0, 0x9F, 0x98, 0x80]))
  assert.deepStrictEqual(vectorBytes(bytes, Field.uri), Buffer.from(uri, 'utf8'))
  const d = decodeRequest(bytes)
  // decodeRequest gives the bytes back one char per byte: UTF-8 decoding restores the text.
  assert.equal(Buffer.from(d.id, 'latin1').toString('utf8'), id)
  assert.equal(Buffer.from(d.uri, 'latin1').toString('utf8'), uri)
  assert.equal(Buffer.from(d.headers, 'latin1').toString('utf8'), 'X-Emoji: \u{1F4A9}\r\n\r\n')
  // Byte arrays are stored as given.
  const raw = new Uint8Array([0xC3, 0x28, 0xFF, 0x00])
  const b2 = roundTrip({ id: raw, method: 'GET', uri: '/' })
  assert.deepStrictEqual(vectorBytes(b2, Field.id), Buffer.from(raw))
})

test('appended fields at their extremes', () => {
  const cases: RequestRecord[] = [
    { method: 'GET', uri: '/', timeNs: (1n << 63n) - 1n, responseTimeNs: 1n },
    { method: 'GET', uri: '/', timeNs: 1n << 63n, responseTimeNs: (1n << 63n) + 7n },
    { method: 'GET', uri: '/', timeNs: (1n << 64n) - 1n, responseTimeNs: (1n << 64n) - 1n }
  ]
  for (const r of cases) {
    const bytes = roundTrip(r)
    assert.equal(u64At(bytes, Field.timeNs), r.timeNs)
    assert.equal(u64At(bytes, Field.responseTimeNs), r.responseTimeNs)
  }
  const body = new Uint8Array(1000).fill(0x61)
  const full: RequestRecord = {
    id: 'x',
    method: 'POST',
    uri: '/full',
    headers: 'A: b\r\n\r\n',
    body,
    timeNs: 1_732_546_800_123_456_789n,
    remoteAddr: '2001:0db8:85a3:0000:0000:8a2e:0370:7334',
    remotePort: 65535,
    httpVersion: '2.0',
    bodyLength: 10 * 1024 * 1024,
    bodyTruncated: true,
    responseStatus: 599,
    responseTimeNs: 987_654_321n
  }
  const bytes = roundTrip(full)
  assert.equal(u16At(bytes, Field.remotePort), 65535)
  assert.equal(u16At(bytes, Field.responseStatus), 599)
  assert.equal(u64At(bytes, Field.bodyLength), 10485760n)
  assert.equal(bytes[scalarPos(bytes, Field.bodyTruncated)], 1)
  assert.deepStrictEqual(vectorBytes(bytes, Field.remoteAddr), Buffer.from(full.remoteAddr as string))
  assert.deepStrictEqual(vectorBytes(bytes, Field.httpVersion), Buffer.from('2.0'))
  const d = decodeRequest(bytes)
  assert.equal(d.body.length, 1000)
  assert.equal(d.bodyLength, 10485760)
  // Truncated with no explicit length: the stored length is the body's.
  const t = roundTrip({ method: 'POST', uri: '/', body, bodyTruncated: true })
  assert.equal(u64At(t, Field.bodyLength), 1000n)
})

test('absent appended fields are not stored and read as zero', () => {
  const body = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
  const r = { id: 'a', method: 'GET', uri: '/', headers: '\r\n', body, bodyLength: 10 }
  const bytes = roundTrip(r)
  const l = layout(bytes)
  // blackhole's five slots set, every appended one absent (0).
  assert.ok(l.slots.slice(0, 5).every(o => o > 0))
  assert.ok(l.slots.slice(5).every(o => o === 0), `appended slots ${l.slots.slice(5).join(',')}`)
  const d = decodeRequest(bytes)
  assert.equal(d.timeNs, 0n)
  assert.equal(d.remoteAddr, '')
  assert.equal(d.remotePort, 0)
  assert.equal(d.httpVersion, '')
  assert.equal(d.bodyLength, 10)
  assert.equal(d.bodyTruncated, false)
  assert.equal(d.responseStatus, 0)
  assert.equal(d.responseTimeNs, 0n)
  // Zero values are defaults: not stored either.
  const zeros = encodeRequest({ method: 'GET', uri: '/', timeNs: 0n, remotePort: 0, responseStatus: 0, responseTimeNs: 0n, bodyTruncated: false, remoteAddr: '', httpVersion: '' })
  assert.deepEqual(layout(zeros).slots.map((o, slot) => o === 0 ? -1 : slot).filter(slot => slot >= 0), [Field.method, Field.uri])
  // Only method and uri: id, headers and body are absent, not empty.
  const min = encodeRequest({ method: 'GET', uri: '/' })
  assert.equal(vectorBytes(min, Field.id), null)
  assert.equal(vectorBytes(min, Field.headers), null)
  assert.deepStrictEqual(vectorBytes(min, Field.method), Buffer.from('GET'))
})

test('a blackhole record built with the standard Builder API decodes with zero defaults', () => {
  const b = new Builder(2048)
  const body = b.createByteVector(new Uint8Array([0, 1, 2, 0xFF]))
  const headers = b.createString(Buffer.from('Host: x\r\nX-L: \xe9\r\n\r\n', 'latin1'))
  const uri = b.createString('/blackhole?a=1')
  const method = b.createString('POST')
  const id = b.createString('FH-1700000000000000000-4294967297')
  b.startObject(5)
  b.addFieldOffset(0, id, 0)
  b.addFieldOffset(1, method, 0)
  b.addFieldOffset(2, uri, 0)
  b.addFieldOffset(3, headers, 0)
  b.addFieldOffset(4, body, 0)
  b.finish(b.endObject())
  const bytes = b.asUint8Array().slice()
  assert.equal(layout(bytes).vtSize, 14)
  const d = decodeRequest(bytes)
  assertDecoded(d, {
    id: 'FH-1700000000000000000-4294967297',
    method: 'POST',
    uri: '/blackhole?a=1',
    headers: 'Host: x\r\nX-L: \xe9\r\n\r\n',
    body: new Uint8Array([0, 1, 2, 0xFF])
  })
  // Fields in another order, and an empty table: still fine.
  const b2 = new Builder(64)
  const m2 = b2.createString('GET')
  b2.startObject(5)
  b2.addFieldOffset(1, m2, 0)
  b2.finish(b2.endObject())
  assertDecoded(decodeRequest(b2.asUint8Array()), { method: 'GET', uri: '' })
})

test('PreparedRequest.writeTo writes in place: the same bytes as encodeRequest, nothing outside its size', () => {
  const rng = new Rng(77)
  for (let i = 0; i < 50; i++) {
    const r = randomRecord(rng, i)
    const p = new PreparedRequest(r)
    const host = Buffer.alloc(p.size + 40, 0xEE)
    const base = 8 + (i % 8) * 4
    assert.equal(p.writeTo(host, base), p.size)
    assert.deepStrictEqual(host.subarray(base, base + p.size), Buffer.from(encodeRequest(r)))
    assert.ok(host.subarray(0, base).every(x => x === 0xEE) && host.subarray(base + p.size).every(x => x === 0xEE), 'wrote outside its bytes')
  }
  // rawHeaders: the same bytes as the header block built as a string, long values included;
  // an unpaired last element is left out, and the size still matches what is written.
  const long = 'v'.repeat(300) + '\xe9\xff'
  const raw = ['Host', 'example.com', 'X-Dup', 'a', 'x-dup', long, 'Content-Type', 'application/json']
  const block = 'Host: example.com\r\nX-Dup: a\r\nx-dup: ' + long + '\r\nContent-Type: application/json\r\n\r\n'
  const viaRaw = new PreparedRequest({ method: 'POST', uri: '/r', rawHeaders: raw, latin1: true, body: new Uint8Array([1]) })
  const viaString = encodeRequest({ method: 'POST', uri: '/r', headers: block, body: new Uint8Array([1]) })
  const out = Buffer.alloc(viaRaw.size)
  assert.equal(viaRaw.writeTo(out, 0), viaRaw.size)
  assert.deepStrictEqual(out, Buffer.from(viaString))
  // Blocks of every length around the one from which rawHeaders are joined and written in one
  // call (and the same with an unpaired last element, which takes the loop): the same bytes.
  for (let k = 90; k <= 200; k++) {
    const pad = 'p'.repeat(k) + '\xff'
    const pairs = ['Host', 'h', 'X-Pad', pad, 'Accept', '*/*']
    const expect = Buffer.from(encodeRequest({ method: 'GET', uri: '/', headers: `Host: h\r\nX-Pad: ${pad}\r\nAccept: */*\r\n\r\n` }))
    for (const rawHeaders of [pairs, [...pairs, 'Unpaired']]) {
      const p = new PreparedRequest({ method: 'GET', uri: '/', rawHeaders, latin1: true })
      const got = Buffer.alloc(p.size + 8, 0xEE)
      assert.equal(p.writeTo(got, 4), p.size)
      assert.deepStrictEqual(got.subarray(4, 4 + p.size), expect, `header block of ${k + 36} bytes, ${rawHeaders.length} elements`)
      assert.ok(got.subarray(0, 4).every(x => x === 0xEE) && got.subarray(4 + p.size).every(x => x === 0xEE), 'wrote outside its bytes')
    }
  }
  const odd = new PreparedRequest({ method: 'GET', uri: '/', rawHeaders: ['A', 'b', 'C'] })
  const oddOut = Buffer.alloc(odd.size + 8, 0xEE)
  assert.equal(odd.writeTo(oddOut, 0), odd.size)
  assert.ok(oddOut.subarray(odd.size).every(x => x === 0xEE))
  assert.equal(decodeRequest(oddOut.subarray(0, odd.size)).headers, 'A: b\r\n\r\n')
  // A string with characters above U+00FF is stored as UTF-8 and sized as such.
  const wide = encodeRequest({ method: 'GET', uri: '/caf\u00e9/\u2603' })
  assert.equal(Buffer.from(vectorBytes(wide, Field.uri)!).toString('utf8'), '/caf\u00e9/\u2603')
})

test('PreparedRequest.writeTo into shared memory: bodies and byte strings from any alignment, the same bytes', () => {
  // Batches for the compression thread are SharedArrayBuffers, where long copies take another path.
  const shared = Buffer.from(new SharedArrayBuffer(1 << 16))
  const plain = Buffer.alloc(1 << 16)
  const source = Buffer.alloc(4096 + 16)
  for (let i = 0; i < source.length; i++) source[i] = (i * 31 + 7) & 0xFF
  for (const length of [0, 1, 127, 128, 129, 2048, 4096]) {
    for (let shift = 0; shift < 8; shift++) {
      const body = source.subarray(shift, shift + length)
      const r: RequestRecord = { method: 'POST', uri: '/s', id: source.subarray(shift, shift + Math.min(length, 300)), body }
      const p = new PreparedRequest(r)
      const base = 8 * shift
      shared.fill(0xEE)
      plain.fill(0xEE)
      assert.equal(p.writeTo(shared, base), p.size)
      assert.equal(p.writeTo(plain, base), p.size)
      assert.ok(shared.equals(plain), `body of ${length} bytes from offset ${shift}`)
      assert.deepStrictEqual(shared.subarray(base, base + p.size), Buffer.from(encodeRequest(r)))
      assert.deepStrictEqual(Buffer.from(decodeRequest(shared.subarray(base, base + p.size)).body), Buffer.from(body))
    }
  }
})

test('decodeRequest reads records inside a larger, unaligned buffer', () => {
  const r = randomRecord(new Rng(9), 1)
  r.body = new Uint8Array([9, 8, 7])
  r.timeNs = 123456789012345678n
  const rec = encodeRequest(r)
  const host = new Uint8Array(rec.length + 10)
  host.set(rec, 3)
  const d = decodeRequest(host.subarray(3, 3 + rec.length))
  assertDecoded(d, r)
  assert.equal(d.body.byteOffset > 3, true)
})

test('decodeRequest throws RecordFormatError for hand-made bad structures', () => {
  const good = encodeRequest({ id: 'abc', method: 'GET', uri: '/x', headers: 'A: b\r\n\r\n', body: new Uint8Array(16), timeNs: 5n })
  const cases: Array<[string, Uint8Array, RegExp]> = []
  cases.push(['empty', new Uint8Array(0), /too short/])
  cases.push(['7 bytes', good.subarray(0, 7), /too short/])
  const huge = good.slice()
  new DataView(huge.buffer).setUint32(0, 0xFFFFFFF0, true)
  cases.push(['root offset 2^32-16', huge, /root table offset/])
  const l = layout(good)
  const vt = good.slice()
  new DataView(vt.buffer).setInt32(l.table, l.table + 1000, true)
  cases.push(['vtable before the start', vt, /vtable offset/])
  const vt2 = good.slice()
  new DataView(vt2.buffer).setInt32(l.table, -100000, true)
  cases.push(['vtable past the end', vt2, /vtable offset/])
  const odd = good.slice()
  new DataView(odd.buffer).setUint16(l.vtable, 7, true)
  cases.push(['odd vtable size', odd, /bad vtable size/])
  const tsz = good.slice()
  new DataView(tsz.buffer).setUint16(l.vtable + 2, 0xFFFF, true)
  cases.push(['table size past the end', tsz, /runs past the record/])
  const fld = good.slice()
  new DataView(fld.buffer).setUint16(l.vtable + 4 + 2 * Field.uri, 0xFFF0, true)
  cases.push(['field offset outside the table', fld, /field 2 lies outside its table/])
  const vec = good.slice()
  const uriPos = l.table + l.slots[Field.uri]
  new DataView(vec.buffer).setUint32(uriPos, 0x7FFFFFFF, true)
  cases.push(['string offset 2^31', vec, /field 2 points outside the record/])
  const len = good.slice()
  const bodyVec = l.table + l.slots[Field.body] + new DataView(len.buffer).getUint32(l.table + l.slots[Field.body], true)
  new DataView(len.buffer).setUint32(bodyVec, 0xFFFFFFFF, true)
  cases.push(['body length 2^32-1', len, /field 4 \(4294967295 bytes\) runs past the record/])
  cases.push(['cut in half', good.subarray(0, good.length >> 1), /outside|past|size/])
  for (const [name, bytes, re] of cases) {
    assert.throws(() => decodeRequest(bytes), (err: Error) => {
      assert.ok(err instanceof RecordFormatError, `${name}: ${err.name}: ${err.message}`)
      assert.match(err.message, re, name)
      return true
    }, name)
  }
})

test('decodeRequest on thousands of damaged records throws only RecordFormatError', () => {
  const rng = new Rng(0xDEAD)
  const bases: Uint8Array[] = []
  for (let i = 0; i < 20; i++) {
    const r = randomRecord(rng, i, 300)
    r.timeNs = 1n + BigInt(i)
    r.remoteAddr = '192.0.2.1'
    r.remotePort = 1000 + i
    r.httpVersion = '1.1'
    r.responseStatus = 200
    bases.push(encodeRequest(r))
  }
  const counts = { ok: 0, rejected: 0 }
  for (let i = 0; i < 6000; i++) {
    const base = bases[i % bases.length]
    let m: Uint8Array
    const kind = i % 5
    if (kind === 0) {
      // Bit flips.
      m = base.slice()
      const flips = 1 + rng.int(8)
      for (let f = 0; f < flips; f++) m[rng.int(m.length)] ^= 1 << rng.int(8)
    } else if (kind === 1) {
      // Truncation.
      m = base.slice(0, rng.int(base.length))
    } else if (kind === 2) {
      // A huge or negative 32-bit value over an offset-sized word.
      m = base.slice()
      const at = rng.int(m.length - 3) & ~1
      new DataView(m.buffer).setUint32(at, rng.pick([0xFFFFFFFF, 0x80000000, 0x7FFFFFFF, 0xFFFFFFF0, m.length, m.length - 2, rng.u32()]), true)
    } else if (kind === 3) {
      // 16-bit vtable-sized values.
      m = base.slice()
      const at = rng.int(m.length - 1)
      new DataView(m.buffer).setUint16(at, rng.pick([0xFFFF, 0x8000, 1, 3, rng.int(0x10000)]), true)
    } else {
      // Random bytes with a plausible root offset.
      m = rng.bytes(8 + rng.int(200))
      new DataView(m.buffer, m.byteOffset).setUint32(0, rng.int(m.length), true)
    }
    try {
      const d = decodeRequest(m)
      counts.ok++
      // Whatever decodes must stay inside the bytes it came from.
      assert.ok(d.body.length <= m.length)
      assert.equal(d.body.buffer, m.buffer)
      for (const s of [d.id, d.method, d.uri, d.headers, d.remoteAddr, d.httpVersion]) assert.ok(s.length <= m.length)
    } catch (err) {
      counts.rejected++
      if (!(err instanceof RecordFormatError)) {
        assert.fail(`mutation ${i} (kind ${kind}) threw ${(err as Error).name}: ${(err as Error).message}; bytes ${Buffer.from(m).toString('hex')}`)
      }
    }
  }
  // Both outcomes must be exercised, or the mutations test nothing.
  assert.ok(counts.rejected > 1000, `rejected ${counts.rejected}`)
  assert.ok(counts.ok > 100, `decoded ${counts.ok}`)
})
