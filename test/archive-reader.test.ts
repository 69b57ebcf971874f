// The streaming archive reader (lib/archive/reader.ts): files cut at every byte, damaged
// files, hostile length prefixes, things that are not archives, directory listing, and
// reading several files in order.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { truncateSync } from 'node:fs'
import { copyFile, mkdir, readFile, symlink, truncate, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { test } from 'node:test'
import { ArchiveError, listArchiveFiles, newSummary, readArchive, readFileRecords, type ArchiveErrorKind, type RawRecord, type ReadOptions } from '../lib/archive/reader.js'
import { ArchiveWriter } from '../lib/archive/writer.js'
import { liblz4Codec, lz4jsCodec, lz4NapiCodec, type BlockCodec } from '../lib/format/codecs.js'
import { encodeRequest, type RequestRecord } from '../lib/format/record.js'
import { assertDecoded, randomRecord, rawStream, recordEnds, Rng, run, tmpDir, u64le, walkFrame, writeArchive, type WalkedFrame } from './fixtures-core.js'
import { requireTool } from './tools.js'

const readCodecs: Array<[string, BlockCodec]> = [['lz4js', lz4jsCodec]]
if (lz4NapiCodec !== null) readCodecs.push(['lz4-napi', lz4NapiCodec])
if (liblz4Codec !== null) readCodecs.push(['liblz4', liblz4Codec])

interface Outcome {
  records: RawRecord[]
  error: unknown
}

async function readAll (file: string, opts: ReadOptions = {}, summary = newSummary(file)): Promise<Outcome> {
  const records: RawRecord[] = []
  try {
    for await (const r of readFileRecords(file, opts, summary)) records.push(r)
    return { records, error: null }
  } catch (error) {
    return { records, error }
  }
}

function assertArchiveError (err: unknown, code: ArchiveErrorKind | readonly ArchiveErrorKind[], file: string, label: string): ArchiveError {
  if (!(err instanceof ArchiveError)) {
    assert.fail(`${label}: expected an ArchiveError, got ${err === null ? 'no error' : `${(err as Error).name}: ${(err as Error).message}`}`)
  }
  const codes = typeof code === 'string' ? [code] : code
  assert.ok(codes.includes(err.kind), `${label}: kind ${err.kind} (${err.message}), expected ${codes.join(' or ')}`)
  assert.equal(err.file, file)
  // Every message starts with the file; all but "cannot open" I/O errors give the offset.
  const where = err.kind === 'IO' && err.offset === 0 ? `${file}: ` : `${file}: offset ${err.offset}`
  assert.ok(err.message.startsWith(where), `${label}: message names the file and offset: ${err.message}`)
  assert.ok(Number.isSafeInteger(err.offset) && err.offset >= 0)
  return err
}

/** A tiny record (the truncation tests read a file once per byte, so files stay small). */
function tinyRecord (rng: Rng, i: number, bigOne: boolean): RequestRecord {
  const r: RequestRecord = { id: `r${i}`, method: rng.pick(['GET', 'POST']), uri: `/${i}` }
  if (i % 3 === 0) r.body = Buffer.from('body-'.repeat(rng.int(4)))
  if (i % 10 === 0) r.timeNs = 1_700_000_000_000_000_000n + BigInt(i)
  // One random body much bigger than a batch: a block of its own, stored raw (LZ4 would
  // only add a byte per 255 literals to it, more than the record's zero padding saves).
  if (bigOne && i === 25) r.body = rng.bytes(20_000)
  return r
}

/** A few hundred tiny records written in many small blocks, and what is known about them. */
async function smallArchive (dir: string, codec: 'lz4js' | 'lz4-napi' | 'none', count: number, seed: number, batchBytes = 700) {
  const rng = new Rng(seed)
  const records: RequestRecord[] = Array.from({ length: count }, (_, i) => tinyRecord(rng, i, codec !== 'none'))
  const sealed = await writeArchive(dir, { codec, batchBytes, blockChecksum: true }, records)
  assert.equal(sealed.length, 1)
  const encoded = records.map(r => encodeRequest(r))
  return { file: sealed[0].path, records, encoded, raw: rawStream(encoded), ends: recordEnds(encoded) }
}

/** For each block of `frame`: the stream offset where its content ends. */
function blockStreamEnds (frame: WalkedFrame, codec: BlockCodec): number[] {
  let at = 0
  return frame.blocks.map(b => {
    at += b.stored ? b.size : codec.decompressBlock(b.data, 4 << 20).length
    return at
  })
}

test('an archive cut at every byte offset yields the records of whole blocks, then TRUNCATED', async (t) => {
  const dir = await tmpDir(t)
  const a = await smallArchive(dir, 'lz4js', 200, 1)
  const full = await readFile(a.file)
  const frame = walkFrame(full)
  assert.ok(frame.blocks.length >= 15, `${frame.blocks.length} blocks`)
  assert.ok(frame.blocks.some(b => b.stored) && frame.blocks.some(b => !b.stored), 'stored and compressed blocks')
  const streamEnds = blockStreamEnds(frame, lz4jsCodec)
  assert.equal(streamEnds.at(-1), a.raw.length)
  // A record is readable once the block holding its last byte is whole (checksum included).
  const recordBlock = a.ends.map(end => streamEnds.findIndex(e => e >= end))
  const cut = path.join(dir, 'cut.fbf.lz4')
  await copyFile(a.file, cut)
  let checked = 0
  for (let len = full.length; len >= 0; len--) {
    truncateSync(cut, len)
    const sum = newSummary(cut)
    // lz4js, and every 20th length lz4-napi (which costs a zeroed 4 MiB buffer per block).
    const { records, error } = await readAll(cut, { codec: readCodecs[len % 20 === 0 ? readCodecs.length - 1 : 0][1] }, sum)
    const wholeBlocks = frame.blocks.filter(b => b.end <= len).length
    const expected = len === 0 ? 0 : recordBlock.filter(k => k < wholeBlocks).length
    assert.equal(records.length, expected, `cut at ${len}: records`)
    for (const [i, r] of records.entries()) {
      if (!Buffer.from(r.bytes).equals(a.encoded[i])) assert.fail(`cut at ${len}: record ${i} differs`)
    }
    assert.equal(sum.records, expected)
    if (len === full.length || len === 0) {
      assert.equal(error, null, `cut at ${len}: no error`)
    } else {
      const err = assertArchiveError(error, 'TRUNCATED', cut, `cut at ${len}`)
      // The offset is where the piece the file ends in starts.
      let where = 0
      if (len >= frame.endMarkAt + 4) where = frame.endMarkAt + 4
      else if (len >= frame.endMarkAt) where = frame.endMarkAt
      else if (len >= frame.headerEnd) where = frame.blocks.find(b => b.end > len)?.at ?? -1
      assert.equal(err.offset, where, `cut at ${len}: error offset (${err.message})`)
      const lastWhole = frame.blocks[wholeBlocks - 1]
      assert.equal(sum.wholeFileBytes, lastWhole === undefined ? 0 : lastWhole.end, `cut at ${len}: wholeFileBytes`)
    }
    checked++
  }
  assert.equal(checked, full.length + 1)
})

test('a raw .fbf file cut at every byte offset yields the records before the cut', async (t) => {
  const dir = await tmpDir(t)
  const a = await smallArchive(dir, 'none', 100, 2)
  const full = await readFile(a.file)
  assert.ok(a.file.endsWith('.fbf'))
  assert.ok(full.equals(a.raw), 'a raw archive is exactly the record stream')
  const cut = path.join(dir, 'cut.fbf')
  await copyFile(a.file, cut)
  for (let len = full.length; len >= 0; len--) {
    truncateSync(cut, len)
    const { records, error } = await readAll(cut)
    const expected = a.ends.filter(e => e <= len).length
    assert.equal(records.length, expected, `cut at ${len}: records`)
    for (const [i, r] of records.entries()) {
      if (!Buffer.from(r.bytes).equals(a.encoded[i])) assert.fail(`cut at ${len}: record ${i} differs`)
    }
    if (len === 0 || a.ends.includes(len)) {
      assert.equal(error, null, `cut at ${len}: a record boundary is a clean end`)
    } else {
      const err = assertArchiveError(error, 'TRUNCATED', cut, `cut at ${len}`)
      const start = expected === 0 ? 0 : a.ends[expected - 1]
      assert.equal(err.streamOffset ?? 0, len < 4 ? 0 : start, `cut at ${len}: stream offset of the cut record`)
    }
  }
})

test('raw .fbf records report their own file offset', async (t) => {
  const dir = await tmpDir(t)
  const a = await smallArchive(dir, 'none', 10, 3)
  const { records, error } = await readAll(a.file)
  assert.equal(error, null)
  // RawRecord.fileOffset: "File offset of the block (or, for raw files, the record) holding the
  // record's start". In a raw file that is the record's own offset, equal to its stream offset.
  assert.deepStrictEqual(records.map(r => r.fileOffset), [0, ...a.ends.slice(0, -1)])
  // The same goes for errors: a cut record is reported at its own offset.
  await truncate(a.file, a.ends[5] + 3)
  const cut = await readAll(a.file)
  const err = assertArchiveError(cut.error, 'TRUNCATED', a.file, 'cut raw file')
  assert.equal(err.streamOffset, a.ends[5])
  assert.equal(err.offset, a.ends[5], `error offset ${err.offset}: ${err.message}`)
})

test('a whole read fills the summary and hands every chunk of content to onContent', async (t) => {
  const dir = await tmpDir(t)
  const a = await smallArchive(dir, 'lz4js', 120, 10)
  const full = await readFile(a.file)
  const frame = walkFrame(full)
  for (const [name, codec] of readCodecs) {
    const chunks: Uint8Array[] = []
    const sum = newSummary(a.file)
    const { records, error } = await readAll(a.file, { codec, onContent: c => chunks.push(Uint8Array.prototype.slice.call(c)) }, sum)
    assert.equal(error, null)
    // Records collected during the read stay valid afterwards (no buffer reuse).
    assert.deepStrictEqual(records.map(r => Buffer.from(r.bytes)), a.encoded.map(e => Buffer.from(e)), name)
    assert.ok(Buffer.concat(chunks).equals(a.raw), `${name}: onContent chunks are the record stream`)
    assert.equal(chunks.length, frame.blocks.length)
    assert.deepStrictEqual({ ...sum, wholeFileBytes: 0 }, {
      file: a.file,
      format: 'lz4',
      fileBytes: full.length,
      streamBytes: a.raw.length,
      frames: 1,
      blocks: frame.blocks.length,
      records: 120,
      wholeFileBytes: 0,
      wholeStreamBytes: a.raw.length
    }, name)
    assert.equal(sum.wholeFileBytes, frame.blocks.at(-1)?.end)
    assert.deepStrictEqual(records.map(r => r.streamOffset), [0, ...a.ends.slice(0, -1)])
  }
  const raw = await smallArchive(path.join(dir, 'raw'), 'none', 30, 11)
  const chunks: Uint8Array[] = []
  const sum = newSummary(raw.file)
  const { error } = await readAll(raw.file, { onContent: c => chunks.push(c) }, sum)
  assert.equal(error, null)
  assert.ok(Buffer.concat(chunks).equals(raw.raw))
  assert.equal(sum.format, 'raw')
  assert.equal(sum.records, 30)
  assert.equal(sum.streamBytes, raw.raw.length)
  assert.equal(sum.wholeFileBytes, raw.raw.length)
})

test('a record that does not decode is BAD_RECORD, after the records before it', async (t) => {
  const dir = await tmpDir(t)
  const good = [encodeRequest({ method: 'GET', uri: '/1' }), encodeRequest({ method: 'GET', uri: '/2' })]
  const garbage = Buffer.from([0xF0, 0xFF, 0xFF, 0x7F, 1, 2, 3, 4, 5, 6])
  for (const codec of ['none', 'lz4js'] as const) {
    const file = path.join(dir, codec === 'none' ? 'bad.fbf' : 'bad.fbf.lz4')
    if (codec === 'none') {
      await writeFile(file, Buffer.concat([rawStream(good), u64le(BigInt(garbage.length)), garbage]))
    } else {
      const w = new ArchiveWriter({ dir: path.join(dir, 'w'), codec, flushMs: 0, recover: false })
      await w.ready()
      for (const g of good) w.append(g)
      w.append(garbage)
      await w.close()
      const [sealed] = await listArchiveFiles([path.join(dir, 'w')])
      await copyFile(sealed, file)
    }
    const got: string[] = []
    await assert.rejects(async () => {
      for await (const r of readArchive(file)) got.push(r.uri)
    }, (err: unknown) => {
      const e = assertArchiveError(err, 'BAD_RECORD', file, codec)
      assert.equal(e.streamOffset, 16 + good[0].length + good[1].length)
      assert.match(e.message, /root table offset 2147483632 is outside the record \(10 bytes\)/)
      return true
    })
    assert.deepStrictEqual(got, ['/1', '/2'])
  }
})

test('a frame whose content ends inside a record is TRUNCATED at that record', async (t) => {
  if (!requireTool(t, 'lz4')) return
  const dir = await tmpDir(t)
  const a = await smallArchive(dir, 'none', 40, 12)
  const cutAt = a.ends[29] + 20
  await writeFile(path.join(dir, 'part'), a.raw.subarray(0, cutAt))
  const file = path.join(dir, 'part.fbf.lz4')
  run('lz4', ['-q', '-f', path.join(dir, 'part'), file])
  const { records, error } = await readAll(file)
  assert.equal(records.length, 30)
  const err = assertArchiveError(error, 'TRUNCATED', file, 'frame ends inside a record')
  assert.equal(err.streamOffset, a.ends[29])
  assert.match(err.message, /stream ends inside a record/)
})

test('a damaged block gives CHECKSUM at the block; a damaged header gives CORRUPT', async (t) => {
  const dir = await tmpDir(t)
  const a = await smallArchive(dir, 'lz4js', 60, 4)
  const full = await readFile(a.file)
  const frame = walkFrame(full)
  const streamEnds = blockStreamEnds(frame, lz4jsCodec)
  const bad = path.join(dir, 'bad.fbf.lz4')
  const flipAt = async (at: number, mask: number): Promise<Outcome> => {
    const b = Buffer.from(full)
    b[at] ^= mask
    await writeFile(bad, b)
    return readAll(bad)
  }
  // Every byte of the first three blocks' data and checksums, each with one bit flipped.
  for (const [k, block] of frame.blocks.slice(0, 3).entries()) {
    const before = a.ends.filter(e => e <= (k === 0 ? 0 : streamEnds[k - 1])).length
    for (let at = block.at + 4; at < block.end; at++) {
      const { records, error } = await flipAt(at, 1 << (at % 8))
      const err = assertArchiveError(error, 'CHECKSUM', bad, `bit flip at ${at}`)
      assert.equal(err.offset, block.at, `bit flip at ${at}: reported at the block`)
      assert.match(err.message, /block checksum mismatch/)
      assert.equal(records.length, before, `bit flip at ${at}: the records of the blocks before`)
    }
  }
  // Header bytes (FLG, BD, HC).
  for (let at = 4; at < 7; at++) {
    for (let bit = 0; bit < 8; bit++) {
      const { records, error } = await flipAt(at, 1 << bit)
      const err = assertArchiveError(error, 'CORRUPT', bad, `header bit ${bit} of byte ${at}`)
      assert.equal(err.offset, 0)
      assert.equal(records.length, 0)
    }
  }
  // A block size over the frame's maximum.
  {
    const b = Buffer.from(full)
    b.writeUInt32LE(0x7FFFFFF0, frame.blocks[1].at)
    await writeFile(bad, b)
    const { records, error } = await readAll(bad)
    const err = assertArchiveError(error, 'CORRUPT', bad, 'huge block size')
    assert.equal(err.offset, frame.blocks[1].at)
    assert.match(err.message, /block size 2147483632 exceeds the frame's maximum of 4194304/)
    assert.equal(records.length, a.ends.filter(e => e <= streamEnds[0]).length)
  }
  // Any damage to a size word is caught one way or another.
  for (const block of frame.blocks.slice(0, 4)) {
    for (let at = block.at; at < block.at + 4; at++) {
      for (let bit = 0; bit < 8; bit++) {
        const { error } = await flipAt(at, 1 << bit)
        assertArchiveError(error, ['CHECKSUM', 'CORRUPT', 'TRUNCATED', 'TOO_LARGE'], bad, `size word bit ${bit} of byte ${at}`)
      }
    }
  }
  // The content checksum: every record is read, then CHECKSUM for the frame.
  const { records, error } = await flipAt(full.length - 2, 0x10)
  const err = assertArchiveError(error, 'CHECKSUM', bad, 'content checksum')
  assert.equal(err.offset, 0)
  assert.match(err.message, /content checksum mismatch/)
  assert.equal(records.length, 60)
  // Checksums can be skipped on request.
  const skipped = await readAll(bad, { verifyChecksums: false })
  assert.equal(skipped.error, null)
  assert.equal(skipped.records.length, 60)
})

test('damaged frames without block checksums: only ArchiveErrors, with either decoder', async (t) => {
  const dir = await tmpDir(t)
  const rng = new Rng(66)
  const records = Array.from({ length: 80 }, (_, i) => randomRecord(rng, i, 400))
  const [sealed] = await writeArchive(dir, { codec: 'lz4js', batchBytes: 8192, blockChecksum: false }, records)
  const full = await readFile(sealed.path)
  const frame = walkFrame(full)
  const bad = path.join(dir, 'bad.fbf.lz4')
  const seen = new Set<string>()
  for (let i = 0; i < 160; i++) {
    const b = Buffer.from(full)
    const flips = 1 + rng.int(4)
    for (let f = 0; f < flips; f++) b[frame.headerEnd + rng.int(full.length - frame.headerEnd)] ^= 1 << rng.int(8)
    await writeFile(bad, b)
    for (const [name, codec] of readCodecs) {
      for (const verifyChecksums of [true, false]) {
        try {
          // eslint-disable-next-line @typescript-eslint/no-unused-vars
          for await (const _ of readArchive(bad, { codec, verifyChecksums }));
          seen.add('ok')
        } catch (err) {
          if (!(err instanceof ArchiveError)) assert.fail(`mutation ${i}, ${name}, verify ${verifyChecksums}: ${(err as Error).name}: ${(err as Error).message}`)
          assert.ok(err.message.startsWith(`${bad}: offset `), err.message)
          seen.add(err.kind)
        }
      }
    }
  }
  assert.ok(seen.has('CORRUPT') && seen.has('CHECKSUM'), `outcomes: ${[...seen].join(', ')}`)
})

test('a length prefix of 2^40 in a raw file is TOO_LARGE at once, without allocating', async (t) => {
  const dir = await tmpDir(t)
  const file = path.join(dir, 'huge.fbf')
  const good = encodeRequest({ method: 'GET', uri: '/ok' })
  await writeFile(file, Buffer.concat([rawStream([good]), u64le(1n << 40n), Buffer.alloc(100, 0x41)]))
  const before = process.memoryUsage().arrayBuffers
  const { records, error } = await readAll(file)
  const grew = process.memoryUsage().arrayBuffers - before
  assert.ok(grew < 64 << 20, `arrayBuffers grew by ${grew} bytes`)
  assert.equal(records.length, 1)
  const err = assertArchiveError(error, 'TOO_LARGE', file, '2^40 prefix')
  assert.equal(err.streamOffset, 8 + good.length)
  assert.match(err.message, /record length 1099511627776 exceeds the limit of 268435456 bytes/)
})

test('maxRecordBytes is honoured in raw and LZ4 files', async (t) => {
  const dir = await tmpDir(t)
  const records: RequestRecord[] = [
    { method: 'GET', uri: '/a' },
    { method: 'POST', uri: '/b', body: new Uint8Array(5000).fill(0x62) },
    { method: 'GET', uri: '/c' }
  ]
  const encoded = records.map(r => encodeRequest(r))
  const limit = encoded[1].length
  const raw = path.join(dir, 'r.fbf')
  await writeFile(raw, rawStream(encoded))
  const [lz4] = await writeArchive(path.join(dir, 'l'), { codec: 'lz4js' }, records)
  for (const file of [raw, lz4.path]) {
    const ok = await readAll(file, { maxRecordBytes: limit })
    assert.equal(ok.error, null, `${file}: a record of exactly the limit is accepted`)
    assert.equal(ok.records.length, 3)
    const { records: got, error } = await readAll(file, { maxRecordBytes: limit - 1 })
    assert.equal(got.length, 1, `${file}: records before the big one`)
    const err = assertArchiveError(error, 'TOO_LARGE', file, 'limit - 1')
    assert.equal(err.streamOffset, 8 + encoded[0].length)
    assert.match(err.message, new RegExp(`record length ${limit} exceeds the limit of ${limit - 1} bytes`))
  }
})

test('garbage after a frame is CORRUPT once the frame has been read', async (t) => {
  const dir = await tmpDir(t)
  const a = await smallArchive(dir, 'lz4js', 20, 5)
  const full = await readFile(a.file)
  const cases: Array<[string, Buffer, RegExp]> = [
    ['8 bytes of text', Buffer.from('garbage!'), /expected an LZ4 frame magic, found 0x62726167/],
    ['3 stray bytes', Buffer.from([1, 2, 3]), /3 stray bytes after the last frame/],
    ['zeros', Buffer.alloc(4096), /expected an LZ4 frame magic, found 0x00000000/]
  ]
  for (const [label, tail, re] of cases) {
    const file = path.join(dir, `tail-${cases.findIndex(c => c[0] === label)}.fbf.lz4`)
    await writeFile(file, Buffer.concat([full, tail]))
    const { records, error } = await readAll(file)
    assert.equal(records.length, 20, label)
    const err = assertArchiveError(error, 'CORRUPT', file, label)
    assert.equal(err.offset, full.length, label)
    assert.match(err.message, re, label)
  }
})

test('skippable frames are skipped', async (t) => {
  const dir = await tmpDir(t)
  const a = await smallArchive(dir, 'lz4js', 15, 6)
  const full = await readFile(a.file)
  const skippable = (n: number): Buffer => Buffer.concat([Buffer.from([0x5A, 0x2A, 0x4D, 0x18]), Buffer.from(Uint32Array.of(n).buffer), Buffer.alloc(n, 0xEE)])
  const file = path.join(dir, 'skip.fbf.lz4')
  await writeFile(file, Buffer.concat([skippable(10), full, skippable(0), full, skippable(70_000)]))
  const { records, error } = await readAll(file)
  assert.equal(error, null)
  assert.equal(records.length, 30)
  // A skippable frame whose size runs past the end of the file.
  await writeFile(file, Buffer.concat([full, skippable(100).subarray(0, 50)]))
  const cut = await readAll(file)
  assert.equal(cut.records.length, 15)
  const err = assertArchiveError(cut.error, 'TRUNCATED', file, 'cut skippable frame')
  assert.equal(err.offset, full.length)
})

test('a skippable frame header claiming gigabytes is TRUNCATED, without a crash or a huge allocation', async (t) => {
  const dir = await tmpDir(t)
  const reader = new URL('../lib/archive/reader.js', import.meta.url).href
  // Run in a child process: the failure mode is an abort of the whole process.
  const script = `
    import { readFileRecords } from ${JSON.stringify(reader)}
    const before = process.memoryUsage().arrayBuffers
    let out
    try {
      for await (const r of readFileRecords(process.argv[1])) void r
      out = { ok: true }
    } catch (e) {
      out = { name: e.name, kind: e.kind, message: e.message }
    }
    out.grew = process.memoryUsage().arrayBuffers - before
    console.log(JSON.stringify(out))`
  const problems: string[] = []
  for (const size of [0xFFFFFFF0, 0x7FFFFFF0]) {
    const label = `skippable frame of 0x${size.toString(16)} bytes in a 12-byte file`
    const file = path.join(dir, `skip-${size}.fbf.lz4`)
    await writeFile(file, Buffer.concat([Buffer.from([0x50, 0x2A, 0x4D, 0x18]), Buffer.from(Uint32Array.of(size).buffer), Buffer.from('tiny')]))
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script, file], { encoding: 'utf8' })
    if (r.signal !== null || r.status !== 0) {
      problems.push(`${label}: the reader process died (${r.signal ?? r.status}): ${r.stderr.split('\n').filter(Boolean).slice(0, 2).join(' | ')}`)
      continue
    }
    const out = JSON.parse(r.stdout)
    if (out.name !== 'ArchiveError' || out.kind !== 'TRUNCATED') problems.push(`${label}: ${r.stdout.trim()}`)
    if (!(out.grew < 64 << 20)) problems.push(`${label}: arrayBuffers grew by ${out.grew} bytes`)
  }
  assert.deepStrictEqual(problems, [])
})

test('files that are not archives give a clean ArchiveError; an empty file has no records', async (t) => {
  const dir = await tmpDir(t)
  const text = path.join(dir, 'notes.fbf.lz4')
  await writeFile(text, 'This is a text file, not an archive.\nIt has two lines.\n')
  const t1 = await readAll(text)
  assert.equal(t1.records.length, 0)
  assertArchiveError(t1.error, ['CORRUPT', 'TOO_LARGE'], text, 'text file')
  const short = path.join(dir, 'short.fbf')
  await writeFile(short, 'hi\n')
  const t2 = await readAll(short)
  assert.equal(t2.records.length, 0)
  const e2 = assertArchiveError(t2.error, 'TRUNCATED', short, 'short text file')
  assert.match(e2.message, /file of 3 bytes is too short/)
  const empty = path.join(dir, 'empty.fbf.lz4')
  await writeFile(empty, '')
  const sum = newSummary(empty)
  const t3 = await readAll(empty, {}, sum)
  assert.equal(t3.error, null)
  assert.equal(t3.records.length, 0)
  assert.equal(sum.format, 'empty')
  // A file that cannot be opened.
  const t5 = await readAll(path.join(dir, 'missing.fbf'))
  const e5 = assertArchiveError(t5.error, 'IO', path.join(dir, 'missing.fbf'), 'missing file')
  assert.match(e5.message, /ENOENT/)
})

test('a read error after the file is open (a directory) is an ArchiveError IO', async (t) => {
  const dir = await tmpDir(t)
  const sub = path.join(dir, 'sub.fbf')
  await mkdir(sub)
  // open() succeeds on a directory; the first read fails with EISDIR.
  const { records, error } = await readAll(sub)
  assert.equal(records.length, 0)
  const err = assertArchiveError(error, 'IO', sub, 'a directory read as a file')
  assert.match(err.message, /EISDIR/)
})

test('a legacy-format file (lz4 -l) is refused with a clear message', async (t) => {
  if (!requireTool(t, 'lz4')) return
  const dir = await tmpDir(t)
  const a = await smallArchive(dir, 'none', 30, 7)
  const legacy = path.join(dir, 'legacy.fbf.lz4')
  run('lz4', ['-l', '-q', '-f', a.file, legacy])
  const head = (await readFile(legacy)).subarray(0, 4)
  assert.deepStrictEqual([...head], [0x02, 0x21, 0x4C, 0x18])
  const { records, error } = await readAll(legacy)
  assert.equal(records.length, 0)
  const err = assertArchiveError(error, 'CORRUPT', legacy, 'legacy')
  assert.equal(err.offset, 0)
  assert.match(err.message, /legacy LZ4 format \(lz4 -l\) is not supported; recompress with plain lz4/)
})

test('listArchiveFiles: directories give their *.fbf and *.fbf.lz4 files in name order', async (t) => {
  const dir = await tmpDir(t)
  const names = [
    'requests_20240102000000_1-aa.fbf.lz4',
    'requests_20240101000000_1-bb.fbf',
    'requests_20240101000000_1-cc.fbf.lz4.tmp',
    'requests_20240101000000_1-dd.fbf.tmp',
    'notes.txt',
    'archive.fbf.gz',
    'x.fbf.lz4.bak',
    'UPPER.FBF.LZ4',
    'a.fbf'
  ]
  for (const n of names) await writeFile(path.join(dir, n), '')
  const got = await listArchiveFiles([dir])
  assert.deepStrictEqual(got, [
    'UPPER.FBF.LZ4',
    'a.fbf',
    'requests_20240101000000_1-bb.fbf',
    'requests_20240102000000_1-aa.fbf.lz4'
  ].map(n => path.join(dir, n)))
  // Files are taken as given, whatever their name; paths keep their order.
  const notes = path.join(dir, 'notes.txt')
  assert.deepStrictEqual(await listArchiveFiles([notes, dir, notes]), [notes, ...got, notes])
  // A missing path: IO, naming it.
  const missing = path.join(dir, 'nope')
  await assert.rejects(listArchiveFiles([dir, missing]), (err: unknown) => {
    assert.ok(err instanceof ArchiveError)
    assert.equal(err.kind, 'IO')
    assert.equal(err.code, 'FST_BLACKHOLE_ARCHIVE_IO')
    assert.equal(err.file, missing)
    assert.equal(err.message, `${missing}: no such file or directory`)
    return true
  })
})

test('listArchiveFiles does not list sub-directories named like archives', async (t) => {
  const dir = await tmpDir(t)
  await writeFile(path.join(dir, 'a.fbf'), '')
  await mkdir(path.join(dir, 'zz.fbf'))
  await mkdir(path.join(dir, 'old.fbf.lz4'))
  assert.deepStrictEqual(await listArchiveFiles([dir]), [path.join(dir, 'a.fbf')])
})

test('listArchiveFiles lists symlinks to archive files in a directory', async (t) => {
  const dir = await tmpDir(t)
  const a = await smallArchive(path.join(dir, 'real'), 'lz4js', 5, 9)
  const linked = path.join(dir, 'linked')
  await mkdir(linked)
  await writeFile(path.join(linked, 'a.fbf'), rawStream(a.encoded))
  await symlink(a.file, path.join(linked, 'b.fbf.lz4'))
  // Given directly, the link is read like any file.
  assert.deepStrictEqual(await listArchiveFiles([path.join(linked, 'b.fbf.lz4')]), [path.join(linked, 'b.fbf.lz4')])
  // In a directory it is an archive like the others.
  assert.deepStrictEqual(await listArchiveFiles([linked]), [path.join(linked, 'a.fbf'), path.join(linked, 'b.fbf.lz4')])
})

test('readArchive over a directory returns every file\'s records in file order, with file set', async (t) => {
  const dir = await tmpDir(t)
  const rng = new Rng(8)
  const groups = [0, 1, 2, 3].map(g => Array.from({ length: 5 + g * 3 }, (_, i) => randomRecord(rng, g * 100 + i, 300)))
  // Names in the order they should be read: raw and LZ4 files (both codecs) mixed.
  const files = ['requests_20240101000000_1-a.fbf.lz4', 'requests_20240101000001_1-a.fbf', 'requests_20240101000002_1-a.fbf.lz4', 'requests_20240101000003_1-a.fbf.lz4']
  const codecs = ['lz4js', 'none', 'lz4-napi', 'lz4js'] as const
  for (const [g, records] of groups.entries()) {
    const sub = path.join(dir, `w${g}`)
    const codec = codecs[g] === 'lz4-napi' && lz4NapiCodec === null ? 'lz4js' : codecs[g]
    const [sealed] = await writeArchive(sub, { codec }, records)
    await copyFile(sealed.path, path.join(dir, files[g]))
  }
  await writeFile(path.join(dir, 'requests_20240101000004_1-a.fbf.lz4.tmp'), 'not sealed')
  const got = []
  for await (const r of readArchive(dir)) got.push(r)
  const expected = groups.flatMap((records, g) => records.map(r => ({ r, file: path.join(dir, files[g]) })))
  assert.equal(got.length, expected.length)
  for (const [i, rec] of got.entries()) {
    assert.equal(rec.file, expected[i].file, `record ${i}: file`)
    assertDecoded(rec, expected[i].r, `record ${i}`)
  }
  // A list of paths: read in the order given.
  const order = [path.join(dir, files[3]), path.join(dir, files[0])]
  const listed = []
  for await (const r of readArchive(order)) listed.push(r.file)
  assert.deepStrictEqual(listed, [...Array(groups[3].length).fill(order[0]), ...Array(groups[0].length).fill(order[1])])
})

test('readArchive over a writer\'s directory returns records in the order they were written', async (t) => {
  const dir = await tmpDir(t)
  const w = new ArchiveWriter({ dir, flushMs: 0, recover: false })
  await w.ready()
  const written: string[] = []
  // Eight files sealed one after another (as rotation does on a busy server).
  for (let f = 0; f < 8; f++) {
    for (let i = 0; i < 3; i++) {
      const uri = `/file-${f}/record-${i}`
      w.record({ method: 'GET', uri })
      written.push(uri)
    }
    await w.rotate()
  }
  await w.close()
  const read: string[] = []
  for await (const r of readArchive(dir)) read.push(r.uri)
  assert.equal(read.length, written.length)
  assert.deepStrictEqual(read, written, 'files listed in name order are not in the order they were written')
})
