// Interoperability with the real tools: flatc reads our records and builds records we read;
// the lz4 CLI reads the archives ArchiveWriter writes, and we read the frames the lz4 CLI
// writes (blackhole's settings and every variant a conforming encoder may produce).
import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import { readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { test, type TestContext } from 'node:test'
import { fileURLToPath } from 'node:url'
import { readArchive } from '../lib/archive/reader.js'
import { liblz4Codec, lz4jsCodec, lz4NapiCodec, type BlockCodec } from '../lib/format/codecs.js'
import { decodeRequest, encodeRequest, type RequestRecord } from '../lib/format/record.js'
import { xxh32 } from '../lib/format/xxh32.js'
import { encodeSteps, randomRecord, rawStream, Rng, run, tmpDir, walkFrame, walkFrames, writeArchive, type WalkedBlock, type WriteStep } from './fixtures-core.js'
import { requireTool } from './tools.js'

const SCHEMA = fileURLToPath(new URL('../../schema/request.fbs', import.meta.url))

const readCodecs: Array<[string, BlockCodec]> = [['lz4js', lz4jsCodec]]
if (lz4NapiCodec !== null) readCodecs.push(['lz4-napi', lz4NapiCodec])
if (liblz4Codec !== null) readCodecs.push(['liblz4', liblz4Codec])

// --- flatc ---

/** Table field names in slot order, from a schema's text. */
function slotNames (schemaText: string): string[] {
  const body = /table\s+Request\s*\{([\s\S]*?)\}/.exec(schemaText.replace(/\/\/.*$/gm, ''))
  assert.ok(body, 'table Request not found in the schema')
  return [...body[1].matchAll(/^\s*(\w+)\s*:/gm)].map(m => m[1])
}

interface FlatcSchema {
  file: string
  /** Field names by slot (as flatc prints them). */
  names: string[]
  /** Names renamed so that flatc accepts the schema (binary layout unchanged). */
  renamed: string[]
}

/**
 * A schema flatc accepts: schema/request.fbs itself when flatc takes it, else a copy in `dir`
 * with the fields flatc reports as clashing renamed. Field names are not part of the binary
 * format (slots are positional), so the copy reads and writes exactly the same bytes.
 */
function flatcSchema (dir: string): FlatcSchema {
  let text = readFileSync(SCHEMA, 'utf8')
  let file = SCHEMA
  const renamed: string[] = []
  for (let i = 0; i < 10; i++) {
    const r = run('flatc', ['--binary', '-o', dir, file], { allowFail: true })
    if (r.status === 0) return { file, names: slotNames(text), renamed }
    const clash = /Field (\w+) would clash with generated functions for field (\w+)/.exec(r.stderr)
    assert.ok(clash, `flatc rejects the schema: ${r.stderr}`)
    renamed.push(clash[1])
    text = text.replace(new RegExp(`^(\\s*)${clash[1]}(\\s*:)`, 'm'), `$1${clash[1]}_renamed$2`)
    file = path.join(dir, 'request-flatc.fbs')
    writeFileSync(file, text)
  }
  throw new Error('could not make a schema flatc accepts')
}

/** JSON from flatc: `\xHH` escapes (bytes that are not UTF-8, with --allow-non-utf8) become U+00HH. */
function parseFlatcJson (text: string): Record<string, unknown> {
  return JSON.parse(text.replace(/\\(\\|x([0-9A-Fa-f]{2}))/g, (m, _c, hex) => hex === undefined ? m : `\\u00${hex}`))
}

/** Exact unsigned 64-bit integers from flatc's JSON text (JSON.parse would round them). */
function u64Field (text: string, name: string): bigint {
  const m = new RegExp(`"${name}": (\\d+)`).exec(text)
  assert.ok(m, `${name} missing from flatc output`)
  return BigInt(m[1])
}

/** flatc's view of one record of ours: decodes `bytes` with flatc and returns the JSON. */
function flatcDecode (dir: string, schema: FlatcSchema, name: string, bytes: Uint8Array, extra: string[] = []): { json: Record<string, unknown>, text: string } {
  const bin = path.join(dir, `${name}.bin`)
  const out = path.join(dir, `out-${name}`)
  writeFileSync(bin, bytes)
  run('flatc', ['--json', '--raw-binary', '--strict-json', '--defaults-json', ...extra, '-o', out, schema.file, '--', bin])
  const text = readFileSync(path.join(out, `${name}.json`), 'utf8')
  return { json: parseFlatcJson(text), text }
}

test('flatc accepts schema/request.fbs as it is', async (t: TestContext) => {
  if (!requireTool(t, 'flatc')) return
  const dir = await tmpDir(t)
  // Every flatc mode (--go as blackhole's generate_go_code.sh uses, --ts, --cpp, --json to dump
  // records) parses the schema first: a schema flatc rejects cannot generate readers or dump
  // records. flatc refuses a field named `<vector>_length` next to a vector field (the
  // generated `body_length()`/`BodyLength()` accessors would clash), in every version.
  const r = run('flatc', ['--binary', '-o', dir, SCHEMA], { allowFail: true })
  assert.equal(r.status, 0, `flatc rejects schema/request.fbs: ${r.stderr.trim()}`)
})

test('flatc decodes our records: every field, 64-bit values, absent fields', async (t) => {
  if (!requireTool(t, 'flatc')) return
  const dir = await tmpDir(t)
  const schema = flatcSchema(dir)
  const names = schema.names
  assert.equal(names.length, 13)
  assert.deepStrictEqual(names.slice(0, 5), ['id', 'method', 'uri', 'headers', 'body'])
  const body = new Uint8Array(300)
  for (let i = 0; i < body.length; i++) body[i] = (i * 13) & 0xFF
  const full: RequestRecord = {
    id: 'req-\u20ac-\u00e9-\u{1F600}',
    method: 'POST',
    uri: '/path/\u4e2d?q=1&r=\u00fc\u0100',
    headers: 'Host: example.test\r\nContent-Type: application/json\r\nX-Quote: "a\\b"\r\n\r\n',
    body,
    timeNs: (1n << 64n) - 1n,
    remoteAddr: '2001:db8::1',
    remotePort: 65535,
    httpVersion: '1.1',
    bodyLength: 4_294_967_296_000,
    bodyTruncated: true,
    responseStatus: 599,
    responseTimeNs: 1n << 63n
  }
  const bytes = encodeRequest(full)
  const { json, text } = flatcDecode(dir, schema, 'full', bytes)
  const stored = decodeRequest(bytes)
  const utf8 = (s: string): string => Buffer.from(s, 'latin1').toString('utf8')
  assert.equal(json[names[0]], full.id)
  assert.equal(json[names[1]], 'POST')
  assert.equal(json[names[2]], full.uri)
  assert.equal(json[names[3]], full.headers)
  assert.equal(utf8(stored.id), json[names[0]])
  assert.deepStrictEqual(json[names[4]], [...body])
  assert.equal(u64Field(text, names[5]), (1n << 64n) - 1n)
  assert.equal(json[names[6]], '2001:db8::1')
  assert.equal(json[names[7]], 65535)
  assert.equal(json[names[8]], '1.1')
  assert.equal(u64Field(text, names[9]), 4_294_967_296_000n)
  assert.equal(json[names[10]], true)
  assert.equal(json[names[11]], 599)
  assert.equal(u64Field(text, names[12]), 1n << 63n)
  assert.equal(Object.keys(json).length, 13)

  // Only method and uri: absent strings and vectors are absent, scalars print their zero defaults.
  const min = flatcDecode(dir, schema, 'min', encodeRequest({ method: 'GET', uri: '/' }))
  assert.deepStrictEqual(min.json, {
    [names[1]]: 'GET',
    [names[2]]: '/',
    [names[5]]: 0,
    [names[7]]: 0,
    [names[9]]: 0,
    [names[10]]: false,
    [names[11]]: 0,
    [names[12]]: 0
  })
  // An empty body is an empty vector; an empty id an empty string.
  const empty = flatcDecode(dir, schema, 'empty', encodeRequest({ id: '', method: 'GET', uri: '/', body: new Uint8Array(0) }))
  assert.equal(empty.json[names[0]], '')
  assert.deepStrictEqual(empty.json[names[4]], [])

  // Header bytes that are not UTF-8 are stored as received: flatc needs --allow-non-utf8 and
  // shows them as \xHH escapes.
  const latin1 = { method: 'GET', uri: '/\xe9', headers: 'X-A: caf\xe9 \xff\x80\r\n\r\n' }
  const lb = encodeRequest(latin1)
  const refused = run('flatc', ['--json', '--raw-binary', '--strict-json', '-o', path.join(dir, 'refused'), schema.file, '--', await binFile(dir, 'l1', lb)], { allowFail: true })
  assert.notEqual(refused.status, 0, 'flatc takes non-UTF-8 strings only with --allow-non-utf8')
  const l1 = flatcDecode(dir, schema, 'l1', lb, ['--allow-non-utf8'])
  assert.match(l1.text, /"X-A: caf\\xE9 \\xFF\\x80\\r\\n\\r\\n"/)
  assert.equal(l1.json[names[3]], latin1.headers)
  assert.equal(l1.json[names[2]], '/\xe9')

  // Random records: every field agrees with decodeRequest.
  const rng = new Rng(808)
  for (let i = 0; i < 12; i++) {
    const r = randomRecord(rng, i, 200)
    r.headers = `Host: h\r\nX-I: ${i}\r\n\r\n` // keep it UTF-8 (random latin1 bytes are covered above)
    const rb = encodeRequest(r)
    const d = decodeRequest(rb)
    const f = flatcDecode(dir, schema, `rand${i}`, rb)
    assert.equal(f.json[names[0]], d.id)
    assert.equal(f.json[names[2]], d.uri)
    assert.deepStrictEqual(f.json[names[4]] ?? [], [...d.body])
    assert.equal(u64Field(f.text, names[5]), d.timeNs)
    assert.equal(f.json[names[6]] ?? '', d.remoteAddr)
    assert.equal(f.json[names[7]], d.remotePort)
    assert.equal(f.json[names[8]] ?? '', d.httpVersion)
    assert.equal(f.json[names[10]], d.bodyTruncated)
    assert.equal(f.json[names[11]], d.responseStatus)
    assert.equal(u64Field(f.text, names[12]), d.responseTimeNs)
    // body_length is stored only when it says more than the body's length.
    assert.equal(u64Field(f.text, names[9]), d.bodyLength === d.body.length && !d.bodyTruncated ? 0n : BigInt(d.bodyLength))
  }
})

async function binFile (dir: string, name: string, bytes: Uint8Array): Promise<string> {
  const f = path.join(dir, `${name}.bin`)
  await writeFile(f, bytes)
  return f
}

test('flatc builds records that decodeRequest reads', async (t) => {
  if (!requireTool(t, 'flatc')) return
  const dir = await tmpDir(t)
  const schema = flatcSchema(dir)
  const n = schema.names
  const build = async (name: string, json: string): Promise<Uint8Array> => {
    const src = path.join(dir, `${name}.json`)
    await writeFile(src, json)
    run('flatc', ['--binary', '-o', path.join(dir, 'bin'), schema.file, src])
    return new Uint8Array(await readFile(path.join(dir, 'bin', `${name}.bin`)))
  }
  const full = await build('full', `{
    "${n[0]}": "flatc-\\u00e9\\u20ac",
    "${n[1]}": "PATCH",
    "${n[2]}": "/f?x=1",
    "${n[3]}": "Host: a\\r\\nX: y\\r\\n\\r\\n",
    "${n[4]}": [0, 1, 2, 128, 255],
    "${n[5]}": 18446744073709551615,
    "${n[6]}": "198.51.100.7",
    "${n[7]}": 65535,
    "${n[8]}": "2.0",
    "${n[9]}": 123456789012,
    "${n[10]}": true,
    "${n[11]}": 599,
    "${n[12]}": 9223372036854775808
  }`)
  const d = decodeRequest(full)
  assert.deepStrictEqual(Buffer.from(d.id, 'latin1'), Buffer.from('flatc-\u00e9\u20ac', 'utf8'))
  assert.equal(d.method, 'PATCH')
  assert.equal(d.uri, '/f?x=1')
  assert.equal(d.headers, 'Host: a\r\nX: y\r\n\r\n')
  assert.deepStrictEqual([...d.body], [0, 1, 2, 128, 255])
  assert.equal(d.timeNs, 18446744073709551615n)
  assert.equal(d.remoteAddr, '198.51.100.7')
  assert.equal(d.remotePort, 65535)
  assert.equal(d.httpVersion, '2.0')
  assert.equal(d.bodyLength, 123456789012)
  assert.equal(d.bodyTruncated, true)
  assert.equal(d.responseStatus, 599)
  assert.equal(d.responseTimeNs, 9223372036854775808n)

  // A blackhole record: the five old fields only; the appended ones read as zero.
  const old = decodeRequest(await build('old', `{ "${n[0]}": "FH-1-2", "${n[1]}": "GET", "${n[2]}": "/", "${n[3]}": "A: b\\r\\n\\r\\n", "${n[4]}": [7] }`))
  assert.deepStrictEqual({ ...old, body: [...old.body] }, {
    id: 'FH-1-2',
    method: 'GET',
    uri: '/',
    headers: 'A: b\r\n\r\n',
    body: [7],
    timeNs: 0n,
    remoteAddr: '',
    remotePort: 0,
    httpVersion: '',
    bodyLength: 1,
    bodyTruncated: false,
    responseStatus: 0,
    responseTimeNs: 0n
  })
  // An empty table.
  const none = decodeRequest(await build('none', '{}'))
  assert.equal(none.method, '')
  assert.equal(none.body.length, 0)
  assert.equal(none.bodyLength, 0)
})

// --- lz4 ---

for (const codec of ['lz4js', 'lz4-napi', 'liblz4'] as const) {
  test(`the lz4 CLI reads archives written with codec ${codec}`, async (t) => {
    if (!requireTool(t, 'lz4')) return
    if ((codec === 'lz4-napi' ? lz4NapiCodec : codec === 'liblz4' ? liblz4Codec : lz4jsCodec) === null) {
      // Optional dependencies: CI installs both, so there a missing one is a failure.
      assert.notEqual(process.env.CI, 'true', `${codec} is not installed`)
      t.skip(`${codec} is not installed`)
      return
    }
    const dir = await tmpDir(t)
    const rng = new Rng(codec.length * 11)
    const steps: WriteStep[] = []
    for (let i = 0; i < 300; i++) steps.push(randomRecord(rng, i, 800))
    steps.push('flush')
    // One batch over 4 MiB: many records, split across blocks.
    for (let i = 0; i < 100; i++) steps.push({ method: 'POST', uri: `/m/${i}`, body: rng.text(50_000 + rng.int(10_000)) })
    steps.push('flush')
    // An incompressible body, in a batch of its own: a stored block.
    steps.push({ method: 'PUT', uri: '/random', body: rng.bytes(1 << 20) })
    steps.push('flush')
    for (let i = 0; i < 50; i++) steps.push(randomRecord(rng, 500 + i, 800))
    const sealed = await writeArchive(dir, { codec, batchBytes: 8 << 20 }, steps)
    assert.equal(sealed.length, 1)
    const file = sealed[0].path
    const expected = rawStream(encodeSteps(steps))
    const frame = walkFrame(await readFile(file))
    assert.ok(frame.blocks.length >= 5, `${frame.blocks.length} blocks`)
    assert.ok(frame.blocks.some(b => b.stored), 'a stored block')
    assert.ok(frame.blocks.some(b => !b.stored), 'compressed blocks')

    const tested = run('lz4', ['-t', file])
    assert.equal(tested.status, 0)
    const out = run('lz4', ['-dc', file]).stdout
    assert.equal(out.length, expected.length)
    assert.ok(out.equals(expected), 'lz4 -dc gives the record stream')
    assert.equal(frame.contentChecksum, xxh32(out))
  })
}

/** Linked blocks whose matches reach into the previous block: they do not decode alone. */
function blocksNeedingDict (blocks: readonly WalkedBlock[]): number {
  // lz4js does not check offsets (it reads zeros), so only lz4-napi can tell.
  if (lz4NapiCodec === null) return 1
  let n = 0
  for (const b of blocks) {
    if (b.stored) continue
    try {
      lz4NapiCodec.decompressBlock(b.data, 4 << 20)
    } catch {
      n++
    }
  }
  return n
}

function streamRecords (rng: Rng, count: number, maxBody: number): RequestRecord[] {
  return Array.from({ length: count }, (_, i) => randomRecord(rng, i, maxBody))
}

/** Reads `file` with each decoder and checks every record and its stream offset. */
async function assertReadsBack (file: string, records: readonly RequestRecord[], label: string): Promise<void> {
  const encoded = records.map(r => encodeRequest(r))
  for (const [name, codec] of readCodecs) {
    let i = 0
    let offset = 0
    for await (const rec of readArchive(file, { codec })) {
      assert.ok(i < records.length, `${label}/${name}: more records than written`)
      assert.equal(rec.file, file)
      assert.equal(rec.streamOffset, offset, `${label}/${name}: record ${i} stream offset`)
      const e = decodeRequest(encoded[i])
      assert.deepStrictEqual({ ...rec, body: Buffer.from(rec.body), file: 0, fileOffset: 0, streamOffset: 0 },
        { ...e, body: Buffer.from(e.body), file: 0, fileOffset: 0, streamOffset: 0 }, `${label}/${name}: record ${i}`)
      offset += 8 + encoded[i].length
      i++
    }
    assert.equal(i, records.length, `${label}/${name}: record count`)
  }
}

test('we read lz4 CLI frames: blackhole settings and every flag variant', async (t) => {
  if (!requireTool(t, 'lz4')) return
  const dir = await tmpDir(t)
  const records = streamRecords(new Rng(1234), 1800, 1500)
  const raw = rawStream(records.map(r => encodeRequest(r)))
  assert.ok(raw.length > (1 << 20), `stream of ${raw.length} bytes (over 1 MiB, or lz4 shrinks the block size)`)
  const rawFile = path.join(dir, 'raw')
  await writeFile(rawFile, raw)
  const variants: Array<{ name: string, args: string[], flg: number, bd: number, minBlocks: number }> = [
    { name: 'blackhole -B7', args: ['-B7'], flg: 0x64, bd: 0x70, minBlocks: 1 },
    { name: 'block checksums -BX', args: ['-B7', '-BX'], flg: 0x74, bd: 0x70, minBlocks: 1 },
    { name: 'content size', args: ['-B7', '--content-size'], flg: 0x6C, bd: 0x70, minBlocks: 1 },
    { name: 'no content checksum', args: ['-B7', '--no-frame-crc'], flg: 0x60, bd: 0x70, minBlocks: 1 },
    { name: 'linked 64 KiB blocks -BD', args: ['-B4', '-BD'], flg: 0x44, bd: 0x40, minBlocks: 10 },
    { name: 'linked, high compression', args: ['-B4', '-BD', '-9'], flg: 0x44, bd: 0x40, minBlocks: 10 },
    { name: 'linked 256 KiB, all checksums, size', args: ['-B5', '-BD', '-BX', '--content-size'], flg: 0x5C, bd: 0x50, minBlocks: 4 },
    { name: 'independent 64 KiB, fast', args: ['-B4', '--fast=3', '-BX'], flg: 0x74, bd: 0x40, minBlocks: 10 }
  ]
  for (const v of variants) {
    const out = path.join(dir, `v-${variants.indexOf(v)}.fbf.lz4`)
    run('lz4', ['-q', '-f', ...v.args, rawFile, out])
    const bytes = await readFile(out)
    assert.equal(bytes[4], v.flg, `${v.name}: FLG`)
    assert.equal(bytes[5], v.bd, `${v.name}: BD`)
    if (v.name === 'blackhole -B7') assert.equal(bytes.subarray(0, 7).toString('hex'), '04224d186470b9')
    const frame = walkFrame(bytes)
    assert.ok(frame.blocks.length >= v.minBlocks, `${v.name}: ${frame.blocks.length} blocks`)
    if (v.flg & 0x08) assert.equal(frame.contentSize, BigInt(raw.length))
    if (v.flg & 0x04) assert.equal(frame.contentChecksum, xxh32(raw), `${v.name}: lz4's content checksum is our xxh32`)
    if ((v.flg & 0x20) === 0) assert.ok(blocksNeedingDict(frame.blocks) > 0, `${v.name}: some block refers to the previous one`)
    await assertReadsBack(out, records, v.name)
  }

  // Streamed through a pipe, as blackhole writes: size unknown, so always 4 MiB blocks.
  const piped = path.join(dir, 'piped.fbf.lz4')
  await writeFile(piped, run('lz4', ['-B7', '-c'], { input: raw }).stdout)
  assert.equal((await readFile(piped)).subarray(0, 7).toString('hex'), '04224d186470b9')
  await assertReadsBack(piped, records, 'piped')

  // An empty stream: a frame with no block, no records.
  const empty = path.join(dir, 'empty.fbf.lz4')
  await writeFile(empty, run('lz4', ['-B7', '-c'], { input: new Uint8Array(0) }).stdout)
  assert.equal(walkFrame(await readFile(empty)).blocks.length, 0)
  await assertReadsBack(empty, [], 'empty frame')

  // A raw .fbf file, no compression.
  const fbf = path.join(dir, 'plain.fbf')
  await writeFile(fbf, raw)
  await assertReadsBack(fbf, records, 'raw .fbf')
})

test('we read lz4 CLI frames over 4 MiB: records across blocks, a 5 MiB record, linked 4 MiB blocks', async (t) => {
  if (!requireTool(t, 'lz4')) return
  const dir = await tmpDir(t)
  const rng = new Rng(555)
  const records: RequestRecord[] = streamRecords(rng, 800, 4000)
  records.splice(300, 0, { method: 'POST', uri: '/five', body: rng.text(5 << 20), headers: 'Content-Length: 5242880\r\n\r\n' })
  // Random data first, so the whole first 4 MiB block is incompressible (stored raw).
  records.unshift({ method: 'POST', uri: '/random', body: rng.bytes(4_300_000) })
  const raw = rawStream(records.map(r => encodeRequest(r)))
  assert.ok(raw.length > (10 << 20), `stream of ${raw.length} bytes`)
  const rawFile = path.join(dir, 'raw')
  await writeFile(rawFile, raw)
  for (const [name, args, flg] of [['independent', ['-B7'], 0x64], ['linked with block checksums', ['-B7', '-BD', '-BX'], 0x54]] as const) {
    const out = path.join(dir, `${name.replace(/\W/g, '')}.fbf.lz4`)
    run('lz4', ['-q', '-f', ...args, rawFile, out])
    const bytes = await readFile(out)
    assert.equal(bytes[4], flg)
    if (flg === 0x64) assert.equal(bytes.subarray(0, 7).toString('hex'), '04224d186470b9')
    const frame = walkFrame(bytes)
    assert.ok(frame.blocks.length >= 3, `${name}: ${frame.blocks.length} blocks`)
    assert.ok(frame.blocks.some(b => b.stored), `${name}: random data is stored raw`)
    await assertReadsBack(out, records, name)
  }
})

test('we read two lz4 frames concatenated into one file (cat a.lz4 b.lz4 > c.lz4)', async (t) => {
  if (!requireTool(t, 'lz4')) return
  const dir = await tmpDir(t)
  const records = streamRecords(new Rng(22), 300, 2000)
  const raw = rawStream(records.map(r => encodeRequest(r)))
  // First at a record boundary, then in the middle of a record (lz4 -dc joins the frames'
  // content, so a record may continue in the next frame).
  const boundary = 8 + encodeRequest(records[0]).length + 8 + encodeRequest(records[1]).length
  for (const [label, cut] of [['at a record boundary', boundary], ['inside a record', Math.floor(raw.length / 2) + 3]] as const) {
    await writeFile(path.join(dir, 'a'), raw.subarray(0, cut))
    await writeFile(path.join(dir, 'b'), raw.subarray(cut))
    run('lz4', ['-q', '-f', '-B7', 'a', 'a.lz4'], { cwd: dir })
    run('lz4', ['-q', '-f', '-B4', '-BD', '-BX', 'b', 'b.lz4'], { cwd: dir })
    run('sh', ['-c', 'cat a.lz4 b.lz4 > c.fbf.lz4'], { cwd: dir })
    const c = path.join(dir, 'c.fbf.lz4')
    const frames = walkFrames(await readFile(c))
    assert.equal(frames.length, 2, label)
    assert.ok(run('lz4', ['-dc', c]).stdout.equals(raw), `${label}: lz4 -dc reads both frames`)
    await assertReadsBack(c, records, `two frames, ${label}`)
  }
})
