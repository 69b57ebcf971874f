// ArchiveWriter: round trips per codec, rotation, flushing, retention, backpressure, write
// errors, flushSync and stats. Every file written here is read back with readArchive.
import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import path from 'node:path'
import { ArchiveWriter, type SealedFile } from '../lib/archive/writer.js'
import { readArchive, readFileRecords } from '../lib/archive/reader.js'
import { getCodec, liblz4Codec, lz4NapiCodec, type CodecName } from '../lib/format/codecs.js'
import { encodeRequest } from '../lib/format/record.js'
import { COMPRESS_THREAD_NICE } from '../lib/archive/compress-thread.js'
import { requireTool } from './tools.js'
import {
  blockEnds, countRecords, encoded, fakeLogger, listDir, lz4Decompress, lz4Test, readUris, recordOf,
  recordStream, rmDir, sleep, tmpDir, uriRange, waitFor
} from './fixtures-writer.js'

const utcStamp = (d: Date): string => d.toISOString().replace(/[-:T]/g, '').slice(0, 14)
const microtasks = async (n: number): Promise<void> => { for (let i = 0; i < n; i++) await Promise.resolve() }

describe('ArchiveWriter round trip', () => {
  for (const codec of ['lz4js', 'lz4-napi', 'liblz4', 'none'] as CodecName[]) {
    test(`codec ${codec}: records, file name, modes, no .tmp`, async (t) => {
      if ((codec === 'lz4-napi' && lz4NapiCodec === null) || (codec === 'liblz4' && liblz4Codec === null)) {
        assert.notEqual(process.env.CI, 'true', `${codec} is not installed`)
        return t.skip(`${codec} not installed`)
      }
      const base = await tmpDir('rt')
      t.after(() => rmDir(base))
      const dir = path.join(base, 'nested', 'archive')
      const before = utcStamp(new Date())
      const w = new ArchiveWriter({ dir, codec })
      const records: Uint8Array[] = []
      for (let i = 0; i < 30; i++) {
        // Mixed bodies: text, incompressible, empty.
        const bytes = encoded(i, i % 3 === 0 ? 0 : 200, i % 3 === 1)
        records.push(bytes)
        assert.equal(w.append(bytes), true)
      }
      await w.close()
      const after = utcStamp(new Date())

      assert.equal((await stat(dir)).mode & 0o777, 0o700)
      const names = await listDir(dir)
      assert.equal(names.length, 1, `one file expected, got ${names.join(', ')}`)
      const ext = codec === 'none' ? '\\.fbf' : '\\.fbf\\.lz4'
      const m = new RegExp(`^requests_(\\d{14})_${process.pid}-[0-9a-f]{10}${ext}$`).exec(names[0])
      assert.ok(m, `bad file name ${names[0]}`)
      assert.ok(m[1] >= before && m[1] <= after, `stamp ${m[1]} not between ${before} and ${after} (UTC)`)
      const file = path.join(dir, names[0])
      assert.equal((await stat(file)).mode & 0o777, 0o600)

      const got = []
      for await (const r of readArchive(dir)) got.push(r)
      assert.equal(got.length, 30)
      got.forEach((r, i) => {
        const want = recordOf(i, i % 3 === 0 ? 0 : 200, i % 3 === 1)
        assert.equal(r.uri, want.uri)
        assert.equal(r.id, want.id)
        assert.equal(r.method, want.method)
        assert.equal(r.headers, want.headers)
        assert.equal(r.timeNs, want.timeNs)
        assert.deepEqual(Buffer.from(r.body), Buffer.from(want.body as Uint8Array))
      })
      const stream = recordStream(records)
      if (codec === 'none') {
        assert.deepEqual(await readFile(file), stream)
      } else if (requireTool(t, 'lz4')) {
        assert.equal(lz4Test(file).status, 0)
        assert.deepEqual(lz4Decompress(file), stream)
      }
      const st = w.stats()
      assert.equal(st.recordsWritten, 30)
      assert.equal(st.filesSealed, 1)
      assert.equal(st.currentFile, null)
    })
  }
})

describe('ArchiveWriter rotation', () => {
  test('by size: several sealed files, every record exactly once, in order', async (t) => {
    const dir = await tmpDir('rot')
    t.after(() => rmDir(dir))
    const sealed: SealedFile[] = []
    const rotateBytes = 2000
    const w = new ArchiveWriter({ dir, codec: 'lz4js', flushMs: 0, rotateBytes, onSeal: f => sealed.push(f) })
    for (let i = 0; i < 60; i++) {
      assert.equal(w.append(encoded(i, 200, true)), true)
      if (i % 3 === 2) await w.flush()
    }
    await w.close()
    assert.ok(sealed.length >= 4, `expected several files, got ${sealed.length}`)
    assert.deepEqual(await listDir(dir), sealed.map(f => path.basename(f.path)).sort())
    const uris: string[] = []
    for (const [k, f] of sealed.entries()) {
      const size = (await stat(f.path)).size
      assert.equal(f.bytes, size, `onSeal bytes of ${f.path}`)
      const fileUris = await readUris(f.path)
      assert.equal(f.records, fileUris.length, `onSeal records of ${f.path}`)
      // A file is sealed after the batch that takes it past rotateBytes (a batch is < 800 bytes here).
      if (k < sealed.length - 1) assert.ok(size >= rotateBytes && size < rotateBytes + 1024, `file ${k} has ${size} bytes`)
      uris.push(...fileUris)
    }
    assert.deepEqual(uris, uriRange(0, 60))
  })

  test('by size: a burst queued at once still rotates near rotateBytes', async (t) => {
    // Rotation waits for the write queue to be empty (#drain), so a burst of queued batches
    // all land in one file; under a sustained backlog a file never rotates at all.
    const dir = await tmpDir('rotburst')
    t.after(() => rmDir(dir))
    const sealed: SealedFile[] = []
    const rotateBytes = 2048
    const w = new ArchiveWriter({ dir, codec: 'lz4js', flushMs: 0, batchBytes: 1024, rotateBytes, onSeal: f => sealed.push(f) })
    for (let i = 0; i < 30; i++) w.append(encoded(i, 300, true))
    await w.close()
    assert.deepEqual(await readUris(sealed.map(f => f.path)), uriRange(0, 30))
    const sizes = sealed.map(f => f.bytes)
    assert.ok(sizes.every(s => s < rotateBytes + 2 * 1024), `sealed file sizes ${sizes.join(', ')} with rotateBytes ${rotateBytes}`)
  })

  test('files sealed within one second sort by name in seal order', async (t) => {
    // Names are <prefix>_<seconds>_<pid>-<random hex>: within one second the order of names is
    // random, but readers (listArchiveFiles) and retention take name order as time order.
    const dir = await tmpDir('order')
    t.after(() => rmDir(dir))
    const sealed: string[] = []
    const w = new ArchiveWriter({ dir, codec: 'lz4js', flushMs: 0, onSeal: f => sealed.push(path.basename(f.path)) })
    for (let f = 0; f < 8; f++) {
      w.append(encoded(2 * f))
      w.append(encoded(2 * f + 1))
      await w.rotate()
    }
    await w.close()
    assert.equal(sealed.length, 8)
    assert.deepEqual((await w.listSealed()).map(f => f.name), sealed, 'name order differs from seal order')
    assert.deepEqual(await readUris(dir), uriRange(0, 16))
  })

  test('by age: a file with records is sealed after rotateMs; idle time creates no file', async (t) => {
    const dir = await tmpDir('age')
    t.after(() => rmDir(dir))
    const sealed: SealedFile[] = []
    const w = new ArchiveWriter({ dir, codec: 'lz4js', flushMs: 20, rotateMs: 100, onSeal: f => sealed.push(f) })
    try {
      for (let i = 0; i < 5; i++) w.append(encoded(i))
      await waitFor('first age rotation', () => w.stats().filesSealed === 1, 5000)
      assert.equal(w.stats().currentFile, null)
      // Idle for several rotation periods: nothing is opened, nothing empty is sealed.
      await sleep(350)
      assert.equal(w.stats().filesSealed, 1)
      assert.deepEqual(await listDir(dir), [path.basename(sealed[0].path)])
      for (let i = 5; i < 8; i++) w.append(encoded(i))
      await waitFor('second age rotation', () => w.stats().filesSealed === 2, 5000)
      assert.equal((await listDir(dir)).filter(n => n.endsWith('.tmp')).length, 0)
    } finally {
      await w.close()
    }
    assert.equal(sealed.length, 2)
    assert.deepEqual(sealed.map(f => f.records), [5, 3])
    assert.deepEqual(await readUris(sealed[0].path), uriRange(0, 5))
    assert.deepEqual(await readUris(sealed[1].path), uriRange(5, 8))
  })

  test('by age also works with the flush timer off (flushMs 0)', async (t) => {
    // The only timer is created when flushMs > 0, so rotateMs is silently ignored otherwise.
    const dir = await tmpDir('age0')
    t.after(() => rmDir(dir))
    const w = new ArchiveWriter({ dir, codec: 'lz4js', flushMs: 0, rotateMs: 100 })
    try {
      for (let i = 0; i < 3; i++) w.append(encoded(i))
      await w.flush()
      assert.equal(w.stats().recordsWritten, 3)
      await waitFor('age rotation', () => w.stats().filesSealed === 1, 1500).catch(() => {})
      assert.equal(w.stats().filesSealed, 1, 'file not sealed 1.5 s after rotateMs 100 elapsed')
    } finally {
      await w.close()
    }
  })
})

describe('ArchiveWriter flushing', () => {
  test('flushMs: a batch is written without close()', async (t) => {
    const dir = await tmpDir('flushms')
    t.after(() => rmDir(dir))
    const w = new ArchiveWriter({ dir, codec: 'lz4js', flushMs: 30 })
    try {
      await w.ready()
      for (let i = 0; i < 3; i++) w.append(encoded(i))
      const s0 = w.stats()
      assert.equal(s0.recordsWritten, 0)
      assert.equal(s0.pendingRecords, 3)
      assert.ok(s0.pendingBytes > 0)
      await waitFor('timed flush', () => w.stats().recordsWritten === 3, 5000)
      const s1 = w.stats()
      assert.equal(s1.pendingBytes, 0)
      assert.equal(s1.pendingRecords, 0)
      assert.ok(s1.currentFile !== null && s1.currentFile.endsWith('.fbf.lz4.tmp'))
      assert.ok(existsSync(s1.currentFile))
      // The open file holds the 3 records, then ends where the end mark is still missing.
      const c = await countRecords(s1.currentFile)
      assert.equal(c.records, 3)
      assert.match(String(c.error), /end mark/)
    } finally {
      await w.close()
    }
    assert.deepEqual(await readUris(dir), uriRange(0, 3))
  })

  test('flush() writes everything appended; rotate() seals only a file with records', async (t) => {
    const dir = await tmpDir('flush')
    t.after(() => rmDir(dir))
    const sealed: SealedFile[] = []
    const w = new ArchiveWriter({ dir, codec: 'lz4js', flushMs: 0, onSeal: f => sealed.push(f) })
    for (let i = 0; i < 4; i++) w.append(encoded(i))
    assert.equal(w.stats().recordsWritten, 0)
    await w.flush()
    let s = w.stats()
    assert.equal(s.recordsWritten, 4)
    assert.equal(s.pendingBytes, 0)
    assert.equal(s.pendingRecords, 0)
    assert.equal(s.filesSealed, 0)
    assert.deepEqual(await listDir(dir), [path.basename(s.currentFile ?? '')])
    await w.flush() // nothing pending: no change
    assert.equal(w.stats().recordsWritten, 4)

    await w.rotate()
    s = w.stats()
    assert.equal(s.filesSealed, 1)
    assert.equal(s.currentFile, null)
    await w.rotate() // no records: no new file
    assert.equal(w.stats().filesSealed, 1)
    assert.equal((await listDir(dir)).length, 1)

    w.append(encoded(4))
    w.append(encoded(5))
    await w.rotate() // rotate() writes the current batch first
    assert.equal(w.stats().filesSealed, 2)
    await w.close()
    assert.equal(w.stats().filesSealed, 2)
    assert.deepEqual(sealed.map(f => f.records), [4, 2])
    assert.deepEqual(await readUris(sealed[0].path), uriRange(0, 4))
    assert.deepEqual(await readUris(sealed[1].path), uriRange(4, 6))
    assert.equal((await listDir(dir)).length, 2)
  })
})

describe('ArchiveWriter retention', () => {
  test('retainFiles: the oldest are deleted, the newest kept', async (t) => {
    // Distinct seconds per file, so name order is time order (see the same-second test).
    t.mock.timers.enable({ apis: ['Date'], now: Date.now() })
    const dir = await tmpDir('retf')
    t.after(() => rmDir(dir))
    const sealed: string[] = []
    const w = new ArchiveWriter({ dir, codec: 'lz4js', flushMs: 0, retainFiles: 2, onSeal: f => sealed.push(path.basename(f.path)) })
    for (let f = 0; f < 5; f++) {
      w.append(encoded(2 * f))
      w.append(encoded(2 * f + 1))
      await w.rotate()
      assert.deepEqual(await listDir(dir), sealed.slice(-2), `after file ${f}`)
      t.mock.timers.tick(1000)
    }
    await w.close()
    assert.equal(sealed.length, 5)
    assert.deepEqual(await readUris(dir), uriRange(6, 10))
  })

  test('retainBytes: oldest deleted until the total fits; the newest always stays', async (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: Date.now() })
    const dir = await tmpDir('retb')
    t.after(() => rmDir(dir))
    const sealed: SealedFile[] = []
    // Files of about 2.1 KB each (incompressible bodies); 2.5 files' worth allowed.
    let w = new ArchiveWriter({ dir, codec: 'lz4js', flushMs: 0, retainBytes: 5300, onSeal: f => sealed.push(f) })
    for (let f = 0; f < 5; f++) {
      for (let i = 0; i < 4; i++) w.append(encoded(4 * f + i, 500, true))
      await w.rotate()
      // Expected: the longest run of newest files whose total is within the limit (at least one).
      const keep: string[] = []
      let total = 0
      for (const s of [...sealed].reverse()) {
        if (keep.length > 0 && total + s.bytes > 5300) break
        keep.unshift(path.basename(s.path))
        total += s.bytes
      }
      assert.deepEqual(await listDir(dir), keep, `after file ${f}`)
      t.mock.timers.tick(1000)
    }
    await w.close()
    assert.equal((await listDir(dir)).length, 2)
    assert.deepEqual(await readUris(dir), uriRange(12, 20))

    // A limit smaller than one file: only the newest file remains.
    w = new ArchiveWriter({ dir, codec: 'lz4js', flushMs: 0, retainBytes: 1, onSeal: f => sealed.push(f) })
    for (let f = 0; f < 2; f++) {
      w.append(encoded(100 + f))
      await w.rotate()
      assert.deepEqual(await listDir(dir), [path.basename(sealed[sealed.length - 1].path)])
      t.mock.timers.tick(1000)
    }
    await w.close()
    assert.deepEqual(await readUris(dir), ['/r/101'])
  })
})

describe('ArchiveWriter limits and drops', () => {
  test('maxPendingBytes: a synchronous flood is dropped and counted, never thrown', async (t) => {
    const dir = await tmpDir('pend')
    t.after(() => rmDir(dir))
    const log = fakeLogger()
    const max = 16384
    const w = new ArchiveWriter({ dir, codec: 'lz4js', flushMs: 0, batchBytes: 4096, maxPendingBytes: max, logger: log })
    const want: boolean[] = []
    const got: boolean[] = []
    let pending = 0
    for (let i = 0; i < 200; i++) {
      const bytes = encoded(i, 1000, true)
      const ok = pending + 8 + bytes.length <= max
      if (ok) pending += 8 + bytes.length
      want.push(ok)
      got.push(w.append(bytes))
    }
    assert.deepEqual(got, want)
    const accepted = got.filter(Boolean).length
    assert.ok(accepted >= 10 && accepted <= 16, `accepted ${accepted}`)
    let s = w.stats()
    assert.equal(s.dropped.backpressure, 200 - accepted)
    assert.equal(s.recordsDropped, 200 - accepted)
    assert.equal(s.dropped.tooLarge, 0)
    assert.equal(s.pendingRecords, accepted)
    assert.equal(s.pendingBytes, pending)
    // One warning for the whole flood.
    const warns = log.calls.filter(c => c.level === 'warn')
    assert.equal(warns.length, 1)
    assert.equal(warns[0].obj.kind, 'drop-backpressure')

    await w.flush()
    assert.equal(w.stats().pendingBytes, 0)
    assert.equal(w.append(encoded(500)), true) // room again
    await w.close()
    s = w.stats()
    assert.equal(s.recordsWritten, accepted + 1)
    const acceptedUris = got.flatMap((ok, i) => ok ? [`/r/${i}`] : [])
    assert.deepEqual(await readUris(dir), [...acceptedUris, '/r/500'])
  })

  test('a record larger than maxPendingBytes counts as tooLarge; one that fits exactly is taken', async (t) => {
    const dir = await tmpDir('large')
    t.after(() => rmDir(dir))
    const small = encoded(0, 100)
    const big = encoded(1, 300)
    const w = new ArchiveWriter({ dir, codec: 'lz4js', flushMs: 0, maxPendingBytes: 8 + small.length })
    assert.equal(w.append(small), true)
    assert.equal(w.append(small), false) // fits alone, but not with the first pending
    assert.equal(w.append(big), false)
    const s = w.stats()
    assert.deepEqual(s.dropped, { backpressure: 1, writeError: 0, closed: 0, tooLarge: 1 })
    assert.equal(s.recordsDropped, 2)
    await w.close()
    assert.deepEqual(await readUris(dir), ['/r/0'])
  })

  test('after close(): appends return false and count as closed; close() is idempotent', async (t) => {
    const dir = await tmpDir('closed')
    t.after(() => rmDir(dir))
    const sealed: SealedFile[] = []
    const w = new ArchiveWriter({ dir, codec: 'lz4js', onSeal: f => sealed.push(f) })
    w.append(encoded(0))
    const p1 = w.close()
    const p2 = w.close()
    assert.equal(p1, p2)
    assert.equal(await p1, undefined)
    assert.equal(await p2, undefined)
    const files = await listDir(dir)
    assert.equal(w.append(encoded(1)), false)
    assert.equal(w.record(recordOf(2)), false)
    await w.close()
    const s = w.stats()
    assert.equal(s.dropped.closed, 2)
    assert.equal(s.recordsDropped, 2)
    assert.equal(s.recordsWritten, 1)
    assert.equal(s.filesSealed, 1)
    assert.equal(sealed.length, 1)
    assert.deepEqual(await listDir(dir), files)
    assert.deepEqual(await readUris(dir), ['/r/0'])
  })

  test('onSeal gets the sealed path, size and record count; a throwing onSeal is logged', async (t) => {
    const dir = await tmpDir('onseal')
    t.after(() => rmDir(dir))
    const log = fakeLogger()
    const seen: SealedFile[] = []
    const w = new ArchiveWriter({
      dir,
      codec: 'lz4js',
      logger: log,
      onSeal: f => {
        seen.push(f)
        throw new Error('callback failure')
      }
    })
    for (let i = 0; i < 7; i++) w.record(recordOf(i))
    await w.close()
    assert.equal(seen.length, 1)
    const [name] = await listDir(dir)
    assert.equal(seen[0].path, path.join(dir, name))
    assert.equal(seen[0].bytes, (await stat(seen[0].path)).size)
    assert.equal(seen[0].records, 7)
    assert.deepEqual(await readUris(dir), uriRange(0, 7))
    const errors = log.calls.filter(c => c.level === 'error')
    assert.equal(errors.length, 1)
    assert.equal(errors[0].obj.kind, 'onSeal')
  })
})

describe('ArchiveWriter write errors', () => {
  test('dir under a regular file: appends accepted, errors counted, one log line', async (t) => {
    const base = await tmpDir('enotdir')
    t.after(() => rmDir(base))
    const blocker = path.join(base, 'file')
    await writeFile(blocker, 'not a directory')
    const log = fakeLogger()
    const w = new ArchiveWriter({ dir: path.join(blocker, 'archive'), codec: 'lz4js', flushMs: 0, logger: log, logIntervalMs: 60_000 })
    await assert.rejects(w.ready(), { code: 'ENOTDIR' })
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 5; i++) assert.equal(w.append(encoded(5 * round + i)), true)
      await w.flush()
    }
    const s = w.stats()
    assert.equal(s.writeErrors, 3)
    assert.equal(s.dropped.writeError, 15)
    assert.equal(s.recordsDropped, 15)
    assert.equal(s.recordsWritten, 0)
    assert.equal(s.pendingBytes, 0)
    assert.equal(s.currentFile, null)
    const errors = log.calls.filter(c => c.level === 'error')
    assert.equal(errors.length, 1)
    assert.equal(errors[0].obj.kind, 'open-ENOTDIR')
    assert.match(errors[0].msg ?? '', /ENOTDIR/)
    await w.close()
    assert.equal(w.stats().filesSealed, 0)
    assert.equal((await readFile(blocker, 'utf8')), 'not a directory')
  })

  test('the open file removed (rm -rf of the directory): its records counted as lost within a tick, a new file follows', async (t) => {
    const base = await tmpDir('unlinked')
    t.after(() => rmDir(base))
    const dir = path.join(base, 'a')
    const log = fakeLogger()
    const w = new ArchiveWriter({ dir, flushMs: 50, rotateMs: 0, logger: log })
    for (let i = 0; i < 10; i++) w.append(encoded(i))
    await w.flush()
    assert.equal(w.stats().recordsWritten, 10)
    await rm(dir, { recursive: true, force: true })
    await sleep(200) // a few ticks: the writer sees the file has no name any more
    const s = w.stats()
    assert.equal(s.recordsWritten, 0)
    assert.equal(s.dropped.writeError, 10)
    assert.equal(s.currentFile, null)
    assert.ok(log.calls.some(c => c.level === 'error' && /10 records lost/.test(c.msg ?? '')), JSON.stringify(log.calls))
    for (let i = 10; i < 15; i++) w.append(encoded(i))
    await w.close()
    const names = await listDir(dir)
    assert.equal(names.length, 1)
    assert.deepEqual(await readUris(path.join(dir, names[0])), uriRange(10, 15))
    assert.equal(w.stats().recordsWritten, 5)
  })

  test('repeated failures: at most one error line per logIntervalMs, suppressed ones counted', async (t) => {
    const base = await tmpDir('ratelog')
    t.after(() => rmDir(base))
    const blocker = path.join(base, 'file')
    await writeFile(blocker, '')
    const lines: Array<{ at: number, suppressed: number }> = []
    const logger = {
      info () {},
      warn () {},
      error (obj: object) { lines.push({ at: Date.now(), suppressed: (obj as { suppressed: number }).suppressed }) }
    }
    const interval = 200
    const w = new ArchiveWriter({ dir: path.join(blocker, 'x'), codec: 'none', flushMs: 0, logger, logIntervalMs: interval })
    let failures = 0
    const failOnce = async (): Promise<void> => {
      w.append(encoded(failures++))
      await w.flush()
    }
    for (let i = 0; i < 5; i++) await failOnce()
    assert.ok(lines.length >= 1)
    const last = lines[lines.length - 1].at
    await waitFor('log interval', () => Date.now() - last >= interval + 5, 5000)
    await failOnce()
    await w.close()
    assert.equal(w.stats().writeErrors, failures)
    assert.ok(lines.length >= 2, `${lines.length} lines`)
    for (let i = 1; i < lines.length; i++) assert.ok(lines[i].at - lines[i - 1].at >= interval, `lines ${i - 1} and ${i} too close`)
    // Every failure is either a line or counted as suppressed in the next line.
    assert.equal(lines.length + lines.reduce((s, l) => s + l.suppressed, 0), failures)
  })
})

describe('ArchiveWriter flushSync and stats', () => {
  test('flushSync() after appends with no await seals one file with every record', async (t) => {
    const dir = await tmpDir('fsync')
    t.after(() => rmDir(dir))
    const w = new ArchiveWriter({ dir, codec: 'lz4js', batchBytes: 2048 })
    for (let i = 0; i < 40; i++) assert.equal(w.append(encoded(i)), true)
    w.flushSync()
    const names = await listDir(dir)
    assert.equal(names.length, 1)
    assert.match(names[0], /\.fbf\.lz4$/)
    const file = path.join(dir, names[0])
    assert.deepEqual(await readUris(file), uriRange(0, 40))
    assert.equal(w.stats().recordsWritten, 40)
    assert.equal(w.stats().filesSealed, 1)
    if (requireTool(t, 'lz4')) assert.equal(lz4Test(file).status, 0)
    assert.equal(w.append(encoded(40)), false)
    await w.close()
    assert.deepEqual(await listDir(dir), names)
  })

  test('flushSync() while a write is in flight keeps every record once', async (t) => {
    const dir = await tmpDir('fsync2')
    t.after(() => rmDir(dir))
    const w = new ArchiveWriter({ dir, codec: 'lz4js', flushMs: 0, batchBytes: 1024 })
    for (let i = 0; i < 3; i++) w.append(encoded(i))
    await w.flush() // the file is open
    for (let i = 3; i < 20; i++) w.append(encoded(i)) // batches queued: the write loop starts
    await microtasks(20) // the first queued batch is now being written
    w.flushSync()
    const check = async (): Promise<void> => {
      const names = await listDir(dir)
      assert.equal(names.length, 1)
      assert.deepEqual(await readUris(path.join(dir, names[0])), uriRange(0, 20))
      if (requireTool(t, 'lz4')) assert.equal(lz4Test(path.join(dir, names[0])).status, 0)
    }
    await check()
    await w.flush() // let the abandoned async write land: it rewrites the same bytes
    await check()
  })

  test('compression thread: the same bytes as compressing on the calling thread, across batches', async (t) => {
    const base = await tmpDir('thread')
    t.after(() => rmDir(base))
    const codec = getCodec('auto')?.name as CodecName
    const files: Buffer[] = []
    for (const compressThread of [true, false]) {
      const dir = path.join(base, String(compressThread))
      const w = new ArchiveWriter({ dir, codec, compressThread, batchBytes: 4096, flushMs: 0 })
      assert.equal(w.stats().compressThread, compressThread)
      for (let i = 0; i < 300; i++) w.append(encoded(i, 100 + (i % 7) * 50, i % 11 === 0))
      await w.close()
      const names = await listDir(dir)
      assert.equal(names.length, 1)
      const file = path.join(dir, names[0])
      assert.deepEqual(await readUris(file), uriRange(0, 300))
      if (requireTool(t, 'lz4')) assert.equal(lz4Test(file).status, 0)
      files.push(await readFile(file))
    }
    // Same blocks and the same content checksum, carried from batch to batch by the thread.
    assert.ok(files[0].equals(files[1]), 'threaded and inline files differ')
  })

  test('the compression thread runs below the request thread (nice value, Linux)', async (t) => {
    if (process.platform !== 'linux') return t.skip('per-thread nice values are a Linux feature')
    const dir = await tmpDir('nice')
    t.after(() => rmDir(dir))
    const w = new ArchiveWriter({ dir, flushMs: 0, batchBytes: 1024 })
    assert.equal(w.stats().compressThread, true)
    for (let i = 0; i < 20; i++) w.append(encoded(i, 100))
    await w.close()
    const nice = async (task: string): Promise<number> => Number((await readFile(`/proc/self/task/${task}/stat`, 'utf8')).split(') ')[1].split(' ')[16])
    const own = await nice(String(process.pid))
    if (own + COMPRESS_THREAD_NICE > 19) return t.skip(`this process already runs at nice ${own}`)
    const values = await Promise.all((await readdir('/proc/self/task')).map(nice))
    assert.equal(values.filter(n => n === own + COMPRESS_THREAD_NICE).length, 1, `nice values of the threads: ${values.join(' ')}`)
  })

  test('flushSync() while the compression thread has a batch keeps every record once', async (t) => {
    const dir = await tmpDir('fsync-thread')
    t.after(() => rmDir(dir))
    const w = new ArchiveWriter({ dir, flushMs: 0, batchBytes: 1024 })
    assert.equal(w.stats().compressThread, true)
    for (let i = 0; i < 3; i++) w.append(encoded(i))
    await w.flush()
    for (let i = 3; i < 40; i++) w.append(encoded(i, 100))
    await microtasks(5) // the write loop has handed a batch to the thread and awaits it
    w.flushSync()
    const check = async (): Promise<void> => {
      const names = await listDir(dir)
      assert.equal(names.length, 1)
      assert.deepEqual(await readUris(path.join(dir, names[0])), uriRange(0, 40))
      if (requireTool(t, 'lz4')) assert.equal(lz4Test(path.join(dir, names[0])).status, 0)
    }
    await check()
    await w.flush() // the thread's late answer is ignored
    await sleep(50)
    await check()
  })

  test('flushSync() while the first file is being opened keeps every record', async (t) => {
    const dir = await tmpDir('fsync3')
    t.after(() => rmDir(dir))
    const w = new ArchiveWriter({ dir, codec: 'lz4js', flushMs: 0, batchBytes: 1024 })
    await w.ready()
    for (let i = 0; i < 10; i++) w.append(encoded(i, 200)) // a full batch is queued
    await microtasks(20) // the write loop has taken it and awaits mkdir/open
    w.flushSync()
    const names = await listDir(dir)
    const sealedNames = names.filter(n => !n.endsWith('.tmp'))
    const uris = sealedNames.length === 1 ? await readUris(path.join(dir, sealedNames[0])) : []
    await w.flush() // settle the write loop before the directory is removed
    assert.equal(sealedNames.length, 1, `files: ${names.join(', ')}`)
    assert.deepEqual(uris, uriRange(0, 10))
  })

  test('stats: bytesIn, bytesOut, blocks, filesSealed for one sealed file', async (t) => {
    const dir = await tmpDir('stats')
    t.after(() => rmDir(dir))
    const w = new ArchiveWriter({ dir, codec: 'lz4js', flushMs: 0 })
    let bytesIn = 0
    for (let b = 0; b < 3; b++) {
      for (let i = 0; i < 4; i++) {
        const rec = encoded(4 * b + i, 100 * (i + 1), b === 1)
        bytesIn += 8 + rec.length
        w.append(rec)
      }
      await w.flush() // one batch, one block
    }
    await w.close()
    const [name] = await listDir(dir)
    const file = await readFile(path.join(dir, name))
    const s = w.stats()
    assert.equal(s.bytesIn, bytesIn)
    assert.equal(s.bytesOut, file.length)
    assert.equal(s.blocks, 3)
    assert.equal(blockEnds(file).ends.length, 3)
    assert.equal(s.filesSealed, 1)
    assert.equal(s.recordsWritten, 12)
    assert.equal(s.recordsDropped, 0)
    assert.equal(s.writeErrors, 0)
    assert.equal(s.pendingBytes, 0)
    assert.equal(s.pendingRecords, 0)
    assert.equal(s.currentFile, null)
    let n = 0
    // eslint-disable-next-line @typescript-eslint/no-unused-vars
    for await (const _ of readFileRecords(path.join(dir, name))) n++
    assert.equal(n, 12)
  })
})

describe('ArchiveWriter options', () => {
  const cases: Array<[string, Record<string, unknown>, RegExp, ErrorConstructor]> = [
    ['batchBytes 0', { batchBytes: 0 }, /"batchBytes".*positive integer/, TypeError],
    ['negative flushMs', { flushMs: -1 }, /"flushMs".*non-negative/, TypeError],
    ['fractional rotateBytes', { rotateBytes: 1.5 }, /"rotateBytes"/, TypeError],
    ['maxPendingBytes string', { maxPendingBytes: '1' }, /"maxPendingBytes"/, TypeError],
    ['fsync not boolean', { fsync: 'yes' }, /"fsync".*boolean/, TypeError],
    ['prefix with /', { prefix: 'a/b' }, /"prefix"/, TypeError],
    ['empty prefix', { prefix: '' }, /"prefix"/, TypeError],
    ['unknown codec', { codec: 'zstd' }, /codec "zstd"/, Error]
  ]
  for (const [what, opts, message, type] of cases) {
    test(`${what} throws naming the option, creates nothing`, async (t) => {
      const base = await tmpDir('opt')
      t.after(() => rmDir(base))
      const dir = path.join(base, 'a')
      assert.throws(() => new ArchiveWriter({ dir, ...opts } as never), (err: Error) => {
        assert.ok(err instanceof type, `${err.name} is not a ${type.name}`)
        assert.match(err.message, message)
        return true
      })
      await sleep(20)
      assert.equal(existsSync(dir), false)
    })
  }

  test('the record() API builds the same bytes as encodeRequest', async (t) => {
    const dir = await tmpDir('recapi')
    t.after(() => rmDir(dir))
    const w = new ArchiveWriter({ dir, codec: 'none' })
    assert.equal(w.record(recordOf(0)), true)
    assert.equal(w.record(recordOf(1)), true)
    await w.close()
    const [name] = await listDir(dir)
    assert.deepEqual(await readFile(path.join(dir, name)), recordStream([encodeRequest(recordOf(0)), encodeRequest(recordOf(1))]))
  })

  test('another writer closing between two records leaves this writer\'s records whole', async (t) => {
    const dir = await tmpDir('recclose')
    t.after(() => rmDir(dir))
    const a = new ArchiveWriter({ dir: path.join(dir, 'a'), codec: 'none' })
    const b = new ArchiveWriter({ dir: path.join(dir, 'b'), codec: 'none' })
    assert.equal(a.record(recordOf(0)), true)
    assert.equal(b.record(recordOf(1)), true)
    // Closing `a` lets go of the last buffer written, which was b's batch.
    await a.close()
    assert.equal(b.record(recordOf(2)), true)
    await b.close()
    const [name] = await listDir(path.join(dir, 'b'))
    assert.deepEqual(await readFile(path.join(dir, 'b', name)), recordStream([encodeRequest(recordOf(1)), encodeRequest(recordOf(2))]))
  })
})
