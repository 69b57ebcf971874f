// Archive reader fuzzing: thousands of mutated and truncated archives (bit flips, cut frames and
// blocks, huge length prefixes, wrong magics, skippable frames with huge sizes, block sizes over
// the maximum, valid frames around garbage, archives nested in archives) read the way `dump` and
// `verify` read them. Nothing may throw anything but an ArchiveError naming the file and an
// offset, and no single allocation may exceed a bound proportional to the input (a 4-GiB or a
// 255-MiB length prefix in a 1-KiB file must not allocate its length). A sample also goes
// through the real CLI (`verify`, `dump`, `replay --dry-run`): exit 1, one message naming file
// and offset, no stack trace. Inputs are generated from a seeded PRNG (FUZZ_SEED overrides it);
// failing inputs are written out so they can join test/fixtures/fuzz-corpus/, whose files are
// replayed first as regression tests.
import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { ArchiveError, decodeRaw, readFileRecords } from '../lib/archive/reader.js'
import { getCodec } from '../lib/format/codecs.js'
import { encodeBlocks, frameEnd, frameHeader, MAX_BLOCK_SIZE } from '../lib/format/lz4-frame.js'
import { encodeRequest } from '../lib/format/record.js'
import { prng } from '../lib/replay/filter.js'
import { xxh32 } from '../lib/format/xxh32.js'
import { recoverTmpFile } from '../lib/archive/recover.js'
import { verifyFile } from '../preset/cli/verify.js'
import { Rng, randomRecord, rawStream, writeArchive } from './fixtures-core.js'
import { rmDir, runCli, tmpDir } from './fixtures-preset.js'

const CORPUS = fileURLToPath(new URL('../../test/fixtures/fuzz-corpus', import.meta.url))
const SEED = Number(process.env.FUZZ_SEED ?? 20261125)
const ROUNDS = Number(process.env.FUZZ_ROUNDS ?? 3000)

/** Largest single typed-array allocation allowed for an input of `n` bytes. */
const allocBound = (n: number): number => Math.max(2 * MAX_BLOCK_SIZE + (1 << 20), 300 * n)

/**
 * Runs `fn` with the global Uint8Array constructor wrapped so the largest length asked of it
 * is known (the reader allocates records and blocks with `new Uint8Array(n)`).
 */
async function largestAllocation<T> (fn: () => Promise<T>): Promise<{ value: T, largest: number }> {
  const Orig = globalThis.Uint8Array
  let largest = 0
  globalThis.Uint8Array = new Proxy(Orig, {
    construct (target, args, newTarget) {
      if (typeof args[0] === 'number' && args[0] > largest) largest = args[0]
      return Reflect.construct(target, args, newTarget) as object
    }
  })
  try {
    return { value: await fn(), largest }
  } finally {
    globalThis.Uint8Array = Orig
  }
}

interface Outcome { records: number, error: string | null, problems: string[] }

/** Reads one file as `dump` does (stops at the first error) and as `verify` does (walks on). */
async function readBoth (file: string): Promise<Outcome> {
  let records = 0
  let error: string | null = null
  try {
    for await (const raw of readFileRecords(file)) {
      decodeRaw(raw)
      records++
    }
  } catch (err) {
    if (!(err instanceof ArchiveError)) throw new Error(`not an ArchiveError: ${(err as Error).stack ?? String(err)}`)
    error = err.message
  }
  const v = await verifyFile(file, 256 << 20)
  return { records, error, problems: v.problems }
}

/**
 * Inputs that made the reader allocate past the bound. Kept apart from the other failures: the
 * reader (lib/archive/reader.ts, RecordSplitter.feed) allocates a record's declared length
 * before its bytes arrive; see the findings in docs/reliability.md.
 */
const allocFailures: string[] = []

/** What is wrong with reading `bytes` (written to `file`), or null. */
async function check (file: string, bytes: Uint8Array): Promise<string | null> {
  await writeFile(file, bytes)
  let res
  try {
    res = await largestAllocation(() => readBoth(file))
  } catch (err) {
    return `threw: ${(err as Error).message.slice(0, 500)}`
  }
  const { value, largest } = res
  if (largest > allocBound(bytes.length)) allocFailures.push(`${path.basename(file)}: allocated ${largest} bytes at once for an input of ${bytes.length} bytes`)
  for (const m of [value.error, ...value.problems]) {
    if (m === null) continue
    if (!m.startsWith(file + ':')) return `message does not start with the file name: ${m}`
    if (!/offset \d+|too short|empty file/.test(m)) return `message names no offset: ${m}`
  }
  if (value.error !== null && value.problems.length === 0) return `dump failed (${value.error}) but verify found nothing`
  return null
}

// ---- base archives and mutations ---------------------------------------------------------

interface Base { name: string, bytes: Buffer }

async function baseArchives (dir: string): Promise<Base[]> {
  const rng = new Rng(SEED)
  const recs = Array.from({ length: 24 }, (_, i) => randomRecord(rng, i, 1500))
  const steps = recs.flatMap((r, i) => i % 6 === 5 ? [r, 'flush' as const] : [r])
  const out: Base[] = []
  const variants: Array<[string, Record<string, unknown>]> = [
    ['lz4js', { codec: 'lz4js' }],
    ['lz4js-blocksum', { codec: 'lz4js', blockChecksum: true }],
    ['raw', { codec: 'none' }]
  ]
  for (const [name, opts] of variants) {
    const d = path.join(dir, name)
    await mkdir(d)
    const files = await writeArchive(d, { batchBytes: 4096, ...opts }, steps)
    out.push({ name, bytes: Buffer.concat(await Promise.all(files.map(f => readFile(f.path)))) })
  }
  // Two frames back to back, as `cat a b` makes.
  out.push({ name: 'two-frames', bytes: Buffer.concat([out[0].bytes, out[1].bytes]) })
  return out
}

const LZ = getCodec('lz4js')
if (LZ === null) throw new Error('lz4js codec missing')

/** A valid LZ4 frame (independent blocks, content checksum) around `content`. */
function frameAround (content: Uint8Array, blockChecksum = false): Buffer {
  const codec = LZ as NonNullable<typeof LZ>
  return Buffer.concat([frameHeader({ blockChecksum, contentChecksum: true }), encodeBlocks(codec, content, blockChecksum), frameEnd(xxh32(content))])
}

function u64 (n: bigint): Buffer {
  const b = Buffer.alloc(8)
  b.writeBigUInt64LE(n)
  return b
}

/** Length prefixes no reader should allocate for. */
const HUGE = [0xFFFFFFFFFFFFFFFFn, 1n << 32n, (1n << 32n) - 1n, 255n << 20n, (256n << 20n) - 8n, 0x7FFFFFFFn, 1n << 63n]

type Mutator = (b: Buffer, r: Rng) => Buffer

const mutators: Record<string, Mutator> = {
  bitflip: (b, r) => {
    const c = Buffer.from(b)
    const flips = 1 + r.int(4)
    for (let i = 0; i < flips; i++) c[r.int(c.length)] ^= 1 << r.int(8)
    return c
  },
  byteSet: (b, r) => {
    const c = Buffer.from(b)
    c[r.int(c.length)] = r.pick([0x00, 0xFF, 0x7F, 0x80])
    return c
  },
  truncate: (b, r) => b.subarray(0, r.int(b.length)),
  cutMiddle: (b, r) => {
    const at = r.int(b.length)
    return Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + r.int(600)))])
  },
  duplicateSlice: (b, r) => {
    const at = r.int(b.length)
    return Buffer.concat([b.subarray(0, at), b.subarray(r.int(b.length)), b.subarray(at)])
  },
  hugeLengthRaw: (_b, r) => {
    // A raw stream: some whole records, then a huge length prefix, then a little data.
    const recs = Array.from({ length: r.int(3) }, (_, i) => encodeRequest(randomRecord(r, i, 100)))
    return Buffer.concat([rawStream(recs), u64(r.pick(HUGE)), r.bytes(r.int(64))])
  },
  hugeLengthInFrame: (_b, r) => {
    // The same inside a valid frame: the prefix only shows after decompression.
    const recs = Array.from({ length: r.int(3) }, (_, i) => encodeRequest(randomRecord(r, i, 100)))
    return frameAround(Buffer.concat([rawStream(recs), u64(r.pick(HUGE)), r.bytes(r.int(64))]), r.chance(0.3))
  },
  wrongMagic: (b, r) => {
    if (b.length < 4) return b
    const c = Buffer.from(b)
    c.writeUInt32LE(r.pick([0x184C2102, 0x184D2205, 0xFD2FB528, r.u32()]), 0)
    return c
  },
  hugeSkippable: (b, r) => {
    const skip = Buffer.alloc(8)
    skip.writeUInt32LE(0x184D2A50 + r.int(16), 0)
    skip.writeUInt32LE(r.pick([0xFFFFFFFF, 0x7FFFFFFF, 0x10000000, b.length + 1]), 4)
    const at = r.chance(0.5) ? 0 : b.length
    return Buffer.concat([b.subarray(0, at), skip, r.bytes(r.int(32)), b.subarray(at)])
  },
  blockOverMax: (b, r) => {
    // Our frames have a 7-byte header: the first block size word follows it.
    if (b.length < 12 || b.readUInt32LE(0) !== 0x184D2204) return b
    const c = Buffer.from(b)
    const size = MAX_BLOCK_SIZE + 1 + r.int(0x7FFFFFFF - MAX_BLOCK_SIZE)
    c.writeUInt32LE((r.chance(0.5) ? size | 0x80000000 : size) >>> 0, 7)
    return c
  },
  headerFields: (b, r) => {
    // Random FLG/BD with a correct header checksum, so the descriptor itself is parsed.
    if (b.length < 12 || b.readUInt32LE(0) !== 0x184D2204) return b
    const c = Buffer.from(b)
    c[4] = r.u32() & 0xFF
    c[5] = r.u32() & 0xFF
    const hasSize = (c[4] & 0x08) !== 0
    const hasDict = (c[4] & 0x01) !== 0
    const descEnd = 6 + (hasSize ? 8 : 0) + (hasDict ? 4 : 0)
    if (descEnd + 1 > c.length) return c
    c[descEnd] = (xxh32(c.subarray(4, descEnd)) >>> 8) & 0xFF
    return c
  },
  garbageAfter: (b, r) => Buffer.concat([b, r.bytes(1 + r.int(100))]),
  garbageInFrame: (_b, r) => frameAround(r.bytes(1 + r.int(3000)), r.chance(0.5)),
  nestedArchive: (b, r) => frameAround(r.chance(0.5) ? b : b.subarray(0, r.int(b.length))),
  randomBytes: (_b, r) => r.bytes(r.int(200)),
  tiny: (_b, r) => r.bytes(r.int(8))
}

/** Handmade nasty inputs: the seed of the corpus. */
function nastyInputs (): Record<string, Buffer> {
  const r = new Rng(7)
  const rec = encodeRequest(randomRecord(r, 0, 50))
  const skip = (size: number): Buffer => { const s = Buffer.alloc(8); s.writeUInt32LE(0x184D2A50, 0); s.writeUInt32LE(size, 4); return s }
  const header = frameHeader({ blockChecksum: false, contentChecksum: true })
  const word = (n: number): Buffer => { const w = Buffer.alloc(4); w.writeUInt32LE(n >>> 0); return w }
  return {
    'raw-4gib-length-prefix': Buffer.concat([u64(1n << 32n), Buffer.from('x')]),
    'raw-u64-max-length-prefix': u64(0xFFFFFFFFFFFFFFFFn),
    'raw-255mib-length-prefix': Buffer.concat([rawStream([rec]), u64(255n << 20n), Buffer.alloc(16)]),
    'frame-255mib-length-prefix': frameAround(Buffer.concat([u64(255n << 20n), Buffer.alloc(64)])),
    'frame-255mib-length-prefix-unsealed': Buffer.concat([header, encodeBlocks(LZ as NonNullable<typeof LZ>, Buffer.concat([u64(255n << 20n), Buffer.alloc(64)]), false)]),
    'skippable-4gib': Buffer.concat([skip(0xFFFFFFFF), Buffer.from('garbage')]),
    'skippable-then-nothing': skip(16),
    'block-size-over-max': Buffer.concat([header, word(0x7FFFFFFF), Buffer.alloc(32)]),
    'stored-block-over-max': Buffer.concat([header, word(0xFFFFFFFF), Buffer.alloc(32)]),
    'legacy-magic': Buffer.concat([word(0x184C2102), Buffer.alloc(16)]),
    'header-only': header,
    'nested-frame-in-frame': frameAround(frameAround(rawStream([rec]))),
    'three-bytes': Buffer.from([0x04, 0x22, 0x4D])
  }
}

function corpusFiles (): Array<{ name: string, bytes: Buffer }> {
  try {
    return readdirSync(CORPUS).filter(n => n.endsWith('.bin')).sort().map(name => ({ name, bytes: readFileSync(path.join(CORPUS, name)) }))
  } catch {
    return []
  }
}

describe('archive reader fuzzing', () => {
  test('the regression corpus (test/fixtures/fuzz-corpus): every input fails cleanly, within the allocation bound', async t => {
    const dir = await tmpDir('fuzz-corpus')
    t.after(() => rmDir(dir))
    const files = corpusFiles()
    assert.ok(files.length >= 10, `corpus missing or small: ${CORPUS}`)
    const failures: string[] = []
    for (const f of files) {
      const p = await check(path.join(dir, f.name.replace(/\.bin$/, '.fbf.lz4')), f.bytes)
      if (p !== null) failures.push(`${f.name}: ${p}`)
    }
    t.diagnostic(`${files.length} corpus inputs`)
    assert.deepEqual(failures, [], failures.join('\n'))
  })

  test('the handmade nasty inputs are all in the corpus', () => {
    const have = new Set(corpusFiles().map(f => f.name))
    const missing = Object.keys(nastyInputs()).filter(n => !have.has(`${n}.bin`))
    if (process.env.FUZZ_WRITE_CORPUS === '1') {
      for (const [n, b] of Object.entries(nastyInputs())) writeFileSyncSafe(path.join(CORPUS, `${n}.bin`), b)
      return
    }
    assert.deepEqual(missing, [], 'regenerate with FUZZ_WRITE_CORPUS=1')
  })

  test(`${ROUNDS} mutated archives (seed ${SEED}): only ArchiveErrors naming file and offset, bounded allocations`, async t => {
    const dir = await tmpDir('fuzz')
    t.after(() => rmDir(dir))
    const bases = await baseArchives(dir)
    // The bases themselves are whole.
    for (const b of bases) {
      const f = path.join(dir, `base-${b.name}.fbf.lz4`)
      await writeFile(f, b.bytes)
      const o = await readBoth(f)
      assert.equal(o.error, null, `${b.name}: ${o.error}`)
      assert.equal(o.records, b.name === 'two-frames' ? 48 : 24)
    }
    const rand = prng(SEED)
    const rng = new Rng(Math.floor(rand() * 0xFFFFFFFF))
    const names = Object.keys(mutators)
    const failDir = path.join(process.env.FUZZ_FAIL_DIR ?? dir, 'failed')
    const failures: string[] = []
    const byKind: Record<string, number> = {}
    let errors = 0
    const t0 = Date.now()
    for (let i = 0; i < ROUNDS; i++) {
      const base = bases[rng.int(bases.length)]
      const kind = names[i % names.length]
      let bytes = mutators[kind](base.bytes, rng)
      if (rng.chance(0.2)) bytes = mutators[rng.pick(names)](bytes.length > 0 ? bytes : base.bytes, rng) // a second mutation
      const file = path.join(dir, `in-${i}.fbf.lz4`)
      const problem = await check(file, bytes)
      byKind[kind] = (byKind[kind] ?? 0) + 1
      if (problem !== null) {
        await mkdir(failDir, { recursive: true })
        const saved = path.join(failDir, `${kind}-${i}.bin`)
        await writeFile(saved, bytes)
        if (failures.length < 20) failures.push(`#${i} ${kind} on ${base.name} (${bytes.length} bytes, saved ${saved}): ${problem}`)
        errors++
      }
    }
    t.diagnostic(`${ROUNDS} inputs in ${Date.now() - t0} ms; mutations ${JSON.stringify(byKind)}; ${errors} failing`)
    assert.deepEqual(failures, [], failures.join('\n'))
  })

  test('recovery regression corpus (recover-*.bin): what was sealed wrongly before the fix now passes verify', async t => {
    const dir = await tmpDir('fuzz-recover-corpus')
    t.after(() => rmDir(dir))
    const files = corpusFiles().filter(f => f.name.startsWith('recover-'))
    assert.ok(files.length >= 2)
    // Whole records each input must keep: the first frame and the blocks after it / the four records before the damaged one.
    const expected: Record<string, (n: number) => boolean> = {
      'recover-lz4-second-frame-cut.bin': n => n > 12 && n < 24,
      'recover-raw-bad-fifth-record.bin': n => n === 4
    }
    for (const [i, f] of files.entries()) {
      const ext = f.name.includes('-raw-') ? '.fbf' : '.fbf.lz4'
      const tmp = path.join(dir, `requests_20260101000000_999999-${i.toString(16).padStart(8, '0')}${ext}.tmp`)
      await writeFile(tmp, f.bytes)
      const r = await recoverTmpFile(tmp)
      assert.equal(r.error, undefined, `${f.name}: ${r.error?.message}`)
      assert.ok(r.sealed !== undefined, `${f.name}: nothing sealed`)
      const v = await verifyFile(r.sealed, 256 << 20)
      t.diagnostic(`${f.name}: kept ${r.records} records, dropped ${r.droppedBytes} bytes (${r.cut ?? 'whole'})`)
      assert.ok(v.ok, `${f.name}: ${v.problems.join('; ')}`)
      assert.equal(v.records, r.records)
      assert.ok(expected[f.name]?.(r.records) ?? true, `${f.name}: kept ${r.records} records`)
    }
  })

  test('crash recovery on 600 damaged .tmp files: never throws, and whatever it seals passes verify', async t => {
    const dir = await tmpDir('fuzz-recover')
    t.after(() => rmDir(dir))
    const bases = await baseArchives(dir)
    const rng = new Rng(SEED ^ 0x7ec0)
    // Mostly what a dead writer leaves (a prefix), sometimes damaged as well.
    const kinds = ['truncate', 'truncate', 'cutMiddle', 'bitflip', 'byteSet', 'garbageAfter', 'hugeLengthInFrame', 'headerFields', 'blockOverMax', 'randomBytes']
    const failures: string[] = []
    const outcome = { sealed: 0, deleted: 0, errors: 0, records: 0 }
    for (let i = 0; i < 600; i++) {
      const kind = kinds[i % kinds.length]
      const base = bases[rng.int(bases.length)]
      let bytes = mutators.truncate(base.bytes, rng)
      if (kind !== 'truncate') bytes = mutators[kind](bytes.length > 16 ? bytes : base.bytes, rng)
      const ext = base.name === 'raw' ? '.fbf' : '.fbf.lz4'
      const tmp = path.join(dir, `requests_20260101000000_999999-${i.toString(16).padStart(8, '0')}${ext}.tmp`)
      await writeFile(tmp, bytes)
      let r
      try {
        r = await recoverTmpFile(tmp)
      } catch (err) {
        failures.push(`#${i} ${kind}: recoverTmpFile threw ${(err as Error).message}`)
        continue
      }
      if (r.error !== undefined) {
        outcome.errors++
        if (failures.length < 20) failures.push(`#${i} ${kind} on ${base.name}: ${r.error.message}`)
        continue
      }
      if (r.sealed === undefined) {
        outcome.deleted++
        continue
      }
      outcome.sealed++
      outcome.records += r.records
      const v = await verifyFile(r.sealed, 256 << 20)
      if (!v.ok || v.records !== r.records) {
        await mkdir(path.join(dir, 'failed'), { recursive: true })
        await writeFile(path.join(dir, 'failed', `${kind}-${i}.bin`), bytes)
        if (failures.length < 20) failures.push(`#${i} ${kind} on ${base.name}: sealed ${r.records} records but verify says ${v.ok ? 'OK' : 'FAIL'} with ${v.records}: ${v.problems.join('; ')}`)
      }
    }
    t.diagnostic(`600 .tmp inputs: ${JSON.stringify(outcome)}`)
    assert.deepEqual(failures, [], failures.join('\n'))
  })

  test('the CLI on damaged inputs (verify, dump, replay --dry-run): exit 1, messages naming file and offset, no stack trace', async t => {
    const dir = await tmpDir('fuzz-cli')
    t.after(() => rmDir(dir))
    const inputs = Object.entries(nastyInputs())
    const rng = new Rng(SEED ^ 0x5eed)
    const bases = await baseArchives(dir)
    for (let i = 0; i < 12; i++) {
      const kind = Object.keys(mutators)[i % Object.keys(mutators).length]
      inputs.push([`${kind}-${i}`, mutators[kind](bases[i % bases.length].bytes, rng)])
    }
    const failures: string[] = []
    let runs = 0
    const jobs = inputs.map(([name, bytes]) => async () => {
      const file = path.join(dir, `${name}.fbf.lz4`)
      await writeFile(file, bytes)
      for (const args of [['verify', file], ['dump', file], ['dump', '--json', file], ['replay', '--dry-run', file]]) {
        const r = await runCli(args, process.env, 20_000)
        runs++
        const where = `${args.slice(0, -1).join(' ')} ${name}`
        if (r.exit.signal !== null || (r.exit.code !== 0 && r.exit.code !== 1)) failures.push(`${where}: exit ${JSON.stringify(r.exit)} ${r.stderr.slice(0, 300)}`)
        if (/\n\s+at /.test(r.stderr) || /RangeError|TypeError|heap/.test(r.stderr)) failures.push(`${where}: stack trace or crash: ${r.stderr.slice(0, 300)}`)
        const messages = args[0] === 'verify' ? r.stdout.split('\n').filter(l => /^\s{5}/.test(l)).map(l => l.trim()) : r.stderr.split('\n').filter(l => l !== '')
        if (r.exit.code === 1 && messages.length === 0) failures.push(`${where}: exit 1 without a message`)
        for (const m of messages) {
          if (!m.includes(file) || !/offset \d+|too short|empty file|ends/.test(m)) failures.push(`${where}: message without file and offset: ${m}`)
        }
      }
    })
    let next = 0
    await Promise.all([0, 1, 2].map(async () => { while (next < jobs.length) await jobs[next++]() }))
    t.diagnostic(`${inputs.length} inputs, ${runs} CLI runs`)
    assert.deepEqual(failures, [], failures.join('\n'))
  })

  test('no input above made the reader allocate more than max(9 MiB, 300 x its size) at once', t => {
    t.diagnostic(`${allocFailures.length} inputs over the bound`)
    // (A 34-byte frame declaring a 255-MiB record once made the reader allocate 255 MiB.)
    assert.deepEqual(allocFailures.slice(0, 20), [], allocFailures.slice(0, 20).join('\n'))
  })
})

function writeFileSyncSafe (file: string, bytes: Buffer): void {
  // Only used to (re)generate the corpus by hand (FUZZ_WRITE_CORPUS=1).
  mkdirSync(path.dirname(file), { recursive: true })
  writeFileSync(file, bytes)
}
