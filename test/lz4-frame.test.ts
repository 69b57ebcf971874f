// The LZ4 frame as ArchiveWriter writes it (walked byte by byte with an independent parser),
// and the frame helpers in lib/format/lz4-frame.ts: header bytes, header parsing, block encoding.
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { test } from 'node:test'
import { ArchiveWriter } from '../lib/archive/writer.js'
import { liblz4Codec, lz4jsCodec, lz4NapiCodec, type BlockCodec } from '../lib/format/codecs.js'
import { encodeBlocks, frameEnd, frameHeader, MAX_BLOCK_INPUT, MAX_BLOCK_SIZE, parseFrameHeader } from '../lib/format/lz4-frame.js'
import { xxh32 } from '../lib/format/xxh32.js'
import { encodeSteps, randomRecord, rawStream, Rng, tmpDir, walkFrame, writeArchive, type WalkedBlock, type WriteStep } from './fixtures-core.js'

const napi = lz4NapiCodec
const codecs: Array<[string, BlockCodec]> = [['lz4js', lz4jsCodec]]
if (napi !== null) codecs.push(['lz4-napi', napi])
if (liblz4Codec !== null) codecs.push(['liblz4', liblz4Codec])

/** Content of one block, decoded with `codec`. */
function blockContent (codec: BlockCodec, b: WalkedBlock): Uint8Array {
  return b.stored ? b.data : codec.decompressBlock(b.data, MAX_BLOCK_SIZE)
}

test('xxh32 matches the reference vectors', () => {
  assert.equal(xxh32(new Uint8Array(0)), 0x02CC5D05)
  assert.equal(xxh32(Buffer.from('a')), 0x550D7456)
  assert.equal(xxh32(Buffer.from('abc')), 0x32D153FF)
  assert.equal(xxh32(Buffer.from('Nobody inspects the spammish repetition')), 0xE2293B2F)
})

test('frameHeader: bytes and header checksum for each flag combination', () => {
  // HC values as lz4 v1.9.4 writes them (FLG, BD 0x70, HC).
  const expected: Array<[boolean, boolean, number, number]> = [
    [false, false, 0x60, 0x73],
    [false, true, 0x64, 0xB9],
    [true, false, 0x70, 0x72],
    [true, true, 0x74, 0x8E]
  ]
  for (const [blockChecksum, contentChecksum, flg, hc] of expected) {
    const h = frameHeader({ blockChecksum, contentChecksum })
    assert.deepStrictEqual([...h], [0x04, 0x22, 0x4D, 0x18, flg, 0x70, hc], `block ${blockChecksum} content ${contentChecksum}`)
    assert.equal((xxh32(h.subarray(4, 6)) >>> 8) & 0xFF, hc)
    const p = parseFrameHeader(h)
    assert.deepStrictEqual(p, { length: 7, blockChecksum, contentChecksum, independent: true, maxBlockSize: 4 << 20 })
  }
  // blackhole's header, byte for byte.
  assert.equal(frameHeader({ blockChecksum: false, contentChecksum: true }).toString('hex'), '04224d186470b9')
})

function header (flg: number, bd: number, extra: number[] = [], hc?: number): Buffer {
  const body = Buffer.from([flg, bd, ...extra])
  const sum = hc ?? (xxh32(body) >>> 8) & 0xFF
  return Buffer.concat([Buffer.from([0x04, 0x22, 0x4D, 0x18]), body, Buffer.from([sum])])
}

test('parseFrameHeader accepts valid headers', () => {
  assert.deepStrictEqual(parseFrameHeader(header(0x44, 0x40)), { length: 7, blockChecksum: false, contentChecksum: true, independent: false, maxBlockSize: 65536 })
  assert.deepStrictEqual(parseFrameHeader(header(0x70, 0x50)), { length: 7, blockChecksum: true, contentChecksum: false, independent: true, maxBlockSize: 256 << 10 })
  assert.deepStrictEqual(parseFrameHeader(header(0x60, 0x60)), { length: 7, blockChecksum: false, contentChecksum: false, independent: true, maxBlockSize: 1 << 20 })
  // Content size: 8 more bytes, covered by the header checksum.
  const cs = header(0x6C, 0x70, [0x10, 0x27, 0, 0, 0, 0, 0, 0])
  assert.equal(cs.length, 15)
  assert.deepStrictEqual(parseFrameHeader(Buffer.concat([cs, Buffer.from([1, 2, 3])])), { length: 15, blockChecksum: false, contentChecksum: true, independent: true, maxBlockSize: 4 << 20 })
  // Too short to hold the header: null, not an error.
  assert.equal(parseFrameHeader(cs.subarray(0, 6)), null)
  assert.equal(parseFrameHeader(cs.subarray(0, 14)), null)
})

test('parseFrameHeader rejects invalid headers with clear messages', () => {
  const cases: Array<[string, Buffer, RegExp]> = [
    ['version 0', header(0x24, 0x70), /^unsupported LZ4 frame version 0$/],
    ['version 2', header(0xA4, 0x70), /^unsupported LZ4 frame version 2$/],
    ['version 3', header(0xE4, 0x70), /^unsupported LZ4 frame version 3$/],
    ['FLG reserved bit 1', header(0x66, 0x70), /^reserved bits set in LZ4 frame descriptor$/],
    ['BD reserved bit 7', header(0x64, 0xF0), /^reserved bits set in LZ4 frame descriptor$/],
    ['BD reserved low bits', header(0x64, 0x71), /^reserved bits set in LZ4 frame descriptor$/],
    ['block size id 3', header(0x64, 0x30), /^invalid LZ4 block size id 3$/],
    ['block size id 0', header(0x64, 0x00), /^invalid LZ4 block size id 0$/],
    ['header checksum', header(0x64, 0x70, [], 0xBA), /^LZ4 frame header checksum mismatch \(0xba, expected 0xb9\)$/],
    ['header checksum with content size', header(0x6C, 0x70, [1, 0, 0, 0, 0, 0, 0, 0], 0), /^LZ4 frame header checksum mismatch \(0x0, expected 0x[0-9a-f]+\)$/],
    ['dictionary id', header(0x65, 0x70, [0x78, 0x56, 0x34, 0x12]), /^LZ4 frames with a dictionary id are not supported$/]
  ]
  for (const [name, h, re] of cases) {
    assert.throws(() => parseFrameHeader(h), { message: re }, name)
  }
})

test('encodeBlocks stores incompressible input raw (bit 31) and compresses the rest', () => {
  const rng = new Rng(31)
  for (const [name, codec] of codecs) {
    const random = rng.bytes(100_000)
    for (const withSum of [false, true]) {
      const out = encodeBlocks(codec, random, withSum)
      assert.equal(out.length, 4 + 100_000 + (withSum ? 4 : 0), name)
      assert.equal(out.readUInt32LE(0), (0x80000000 | 100_000) >>> 0, `${name}: stored bit and size`)
      assert.ok(out.subarray(4, 100_004).equals(random), `${name}: stored data is the input`)
      if (withSum) assert.equal(out.readUInt32LE(100_004), xxh32(random))
    }
    // A few bytes never shrink: stored.
    const tiny = encodeBlocks(codec, Buffer.from('hello'), false)
    assert.equal(tiny.toString('hex'), '05000080' + Buffer.from('hello').toString('hex'), name)
    // Compressible input: a compressed block that both codecs decode back.
    const text = rng.text(200_000)
    const packed = encodeBlocks(codec, text, true)
    const word = packed.readUInt32LE(0)
    assert.equal(word >>> 31, 0, `${name}: compressed block`)
    assert.ok(word < 100_000, `${name}: ${word} bytes`)
    assert.equal(packed.length, 4 + word + 4)
    const data = packed.subarray(4, 4 + word)
    assert.equal(packed.readUInt32LE(4 + word), xxh32(data))
    for (const [other, dec] of codecs) {
      assert.ok(Buffer.from(dec.decompressBlock(data, MAX_BLOCK_SIZE)).equals(text), `${name} block decoded by ${other}`)
    }
    // Nothing in, nothing out.
    assert.equal(encodeBlocks(codec, new Uint8Array(0), true).length, 0)
  }
})

test('encodeBlocks splits input at MAX_BLOCK_INPUT', () => {
  assert.ok(MAX_BLOCK_INPUT < MAX_BLOCK_SIZE)
  const rng = new Rng(77)
  for (const [name, codec] of codecs) {
    for (const [len, blocks] of [[MAX_BLOCK_INPUT, 1], [MAX_BLOCK_INPUT + 1, 2], [2 * MAX_BLOCK_INPUT + 5, 3]]) {
      const input = rng.text(len)
      const out = encodeBlocks(codec, input, false)
      const parts: Uint8Array[] = []
      let at = 0
      while (at < out.length) {
        const word = out.readUInt32LE(at)
        const size = word & 0x7FFFFFFF
        const data = out.subarray(at + 4, at + 4 + size)
        parts.push(word >>> 31 ? data : codec.decompressBlock(data, MAX_BLOCK_SIZE))
        at += 4 + size
      }
      assert.equal(parts.length, blocks, `${name}: ${len} bytes`)
      assert.equal(parts[0].length, Math.min(len, MAX_BLOCK_INPUT))
      assert.ok(Buffer.concat(parts).equals(input), `${name}: ${len} bytes round trip`)
    }
  }
})

test('frameEnd: end mark and content checksum', () => {
  assert.equal(frameEnd(null).toString('hex'), '00000000')
  assert.equal(frameEnd(0xDEADBEEF).toString('hex'), '00000000efbeadde')
  assert.equal(frameEnd(0).toString('hex'), '0000000000000000')
})

for (const [name, codec] of codecs) {
  test(`a sealed ${name} archive is one frame: header, checked blocks, end mark, content checksum, EOF`, async (t) => {
    const dir = await tmpDir(t)
    const rng = new Rng(name.length)
    const steps: WriteStep[] = []
    // Small batches (several blocks), a 5.5 MiB record (a batch of its own, split into two
    // blocks), and a batch of one incompressible record (stored raw).
    for (let i = 0; i < 300; i++) steps.push(randomRecord(rng, i, 500))
    steps.push('flush')
    steps.push({ method: 'POST', uri: '/big', body: rng.text(5_500_000) })
    steps.push({ method: 'PUT', uri: '/random', body: rng.bytes(300_000) })
    steps.push('flush')
    for (let i = 0; i < 50; i++) steps.push(randomRecord(rng, 1000 + i, 500))
    const sealed = await writeArchive(dir, { codec: codec.name, batchBytes: 16 << 10, blockChecksum: true }, steps)
    assert.equal(sealed.length, 1)
    assert.match(sealed[0].path, /\/requests_\d{14}_\d+-[0-9a-f]+\.fbf\.lz4$/)
    const file = await readFile(sealed[0].path)
    assert.equal(sealed[0].bytes, file.length)
    const expected = rawStream(encodeSteps(steps))
    assert.equal(sealed[0].records, 352)

    // Header: magic, FLG 0x74, BD 0x70, header checksum.
    assert.deepStrictEqual([...file.subarray(0, 4)], [0x04, 0x22, 0x4D, 0x18])
    assert.equal(file[4], 0x74, 'FLG: version 01, independent blocks, block checksum, content checksum')
    assert.equal(file[5], 0x70, 'BD: 4 MiB blocks')
    assert.equal(file[6], (xxh32(file.subarray(4, 6)) >>> 8) & 0xFF)
    assert.equal(file[6], 0x8E)

    const frame = walkFrame(file)
    assert.equal(frame.headerEnd, 7)
    let stored = 0
    let streamAt = 0
    let blockMax = 0
    for (const [i, b] of frame.blocks.entries()) {
      assert.ok(b.size > 0 && b.size < MAX_BLOCK_SIZE, `block ${i}: size ${b.size}`)
      assert.equal(b.checksum, xxh32(b.data), `block ${i} at ${b.at}: block checksum`)
      if (b.stored) stored++
      // Decoded with both codecs (so a block is not only checked by the codec that wrote it).
      const content = blockContent(codec, b)
      for (const [, other] of codecs) assert.ok(Buffer.from(blockContent(other, b)).equals(content))
      assert.ok(content.length <= MAX_BLOCK_INPUT, `block ${i} holds ${content.length} bytes`)
      blockMax = Math.max(blockMax, content.length)
      assert.ok(Buffer.from(content).equals(expected.subarray(streamAt, streamAt + content.length)), `block ${i} content`)
      streamAt += content.length
    }
    assert.equal(streamAt, expected.length, 'the blocks hold the whole record stream')
    assert.ok(frame.blocks.length > 10, `${frame.blocks.length} blocks`)
    assert.ok(stored >= 1, 'the random record is stored raw')
    assert.equal(blockMax, MAX_BLOCK_INPUT, 'the 5.5 MiB record fills a whole block')
    assert.deepStrictEqual([...file.subarray(frame.endMarkAt, frame.endMarkAt + 4)], [0, 0, 0, 0])
    assert.equal(frame.contentChecksum, xxh32(expected), 'content checksum')
    assert.equal(frame.end, file.length, 'nothing after the frame: one frame per file')
  })
}

test('by default the frame header is blackhole\'s (04 22 4D 18 64 70 B9): no block checksums', async (t) => {
  const dir = await tmpDir(t)
  const sealed = await writeArchive(dir, {}, [{ method: 'GET', uri: '/a' }, 'flush', { method: 'GET', uri: '/b' }])
  const file = await readFile(sealed[0].path)
  assert.deepStrictEqual([...file.subarray(0, 7)], [0x04, 0x22, 0x4D, 0x18, 0x64, 0x70, 0xB9])
  const frame = walkFrame(file)
  assert.equal(frame.blocks.length, 2)
  for (const b of frame.blocks) assert.equal(b.checksum, null)
  assert.equal(frame.end, file.length)
})

test('without checksums the frame has neither; rotation gives one whole frame per file', async (t) => {
  const dir = await tmpDir(t)
  const rng = new Rng(4)
  const records = Array.from({ length: 40 }, (_, i) => randomRecord(rng, i, 300))
  const steps: WriteStep[] = [...records.slice(0, 20), 'flush', ...records.slice(20)]
  const sealed = await writeArchive(dir, { codec: 'lz4js', blockChecksum: false, contentChecksum: false, batchBytes: 4096 }, steps)
  const file = await readFile(sealed[0].path)
  assert.equal(file.subarray(0, 7).toString('hex'), '04224d18607073')
  const frame = walkFrame(file)
  assert.ok(frame.blocks.every(b => b.checksum === null))
  assert.equal(frame.contentChecksum, null)
  assert.equal(frame.end, file.length)
  assert.equal(file.readUInt32LE(file.length - 4), 0, 'the file ends with the end mark')

  // rotate(): every file is a frame of its own with its own content checksum.
  const dir2 = await tmpDir(t)
  const files: string[] = []
  const w = new ArchiveWriter({ dir: dir2, codec: 'lz4js', flushMs: 0, recover: false, onSeal: f => files.push(f.path) })
  await w.ready()
  const parts = [records.slice(0, 10), records.slice(10, 25), records.slice(25)]
  for (const part of parts) {
    for (const r of part) w.record(r)
    await w.rotate()
  }
  await w.close()
  assert.equal(files.length, 3)
  for (const [i, f] of files.entries()) {
    const b = await readFile(f)
    const fr = walkFrame(b)
    assert.equal(fr.end, b.length, `file ${i}: one frame`)
    assert.equal(fr.contentChecksum, xxh32(rawStream(encodeSteps(parts[i]))), `file ${i}: content checksum`)
  }
})
