// Crash recovery: a writer killed with SIGKILL, `.tmp` files cut at every kind of offset, and
// the rules about which `.tmp` files recovery may touch.
import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import { readFile, stat, unlink, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { ArchiveWriter } from '../lib/archive/writer.js'
import type { CodecName } from '../lib/format/codecs.js'
import { recoverTmpFile, recoverTmpFiles } from '../lib/archive/recover.js'
import { requireTool } from './tools.js'
import {
  blockEnds, countRecords, deadPid, encoded, FIXTURE_SCRIPT, fakeLogger, isAlive, listDir, lz4Test,
  readUris, rmDir, runCli, runNode, tmpDir, uriRange
} from './fixtures-writer.js'

/** A sealed multi-block LZ4 archive: block k holds counts[k] records; returns its bytes. */
async function multiBlockFile (dir: string, counts: number[], frame: { blockChecksum?: boolean, contentChecksum?: boolean } = {}): Promise<Buffer> {
  const w = new ArchiveWriter({ dir, codec: 'lz4js', flushMs: 0, recover: false, blockChecksum: true, ...frame })
  let i = 0
  for (const [k, n] of counts.entries()) {
    // Alternate compressible and incompressible blocks (stored raw by the writer).
    for (let j = 0; j < n; j++, i++) w.append(encoded(i, 120 + 37 * j, k % 2 === 1))
    await w.flush()
  }
  await w.close()
  const [name] = await listDir(dir)
  const buf = await readFile(path.join(dir, name))
  await unlink(path.join(dir, name))
  return buf
}

function offsetsToTry (length: number, boundaries: number[], stride: number): number[] {
  const set = new Set<number>()
  for (let o = 0; o <= Math.min(12, length); o++) set.add(o)
  for (const b of boundaries) for (let d = -3; d <= 3; d++) set.add(b + d)
  for (let o = length - 12; o <= length; o++) set.add(o)
  for (let o = 0; o <= length; o += stride) set.add(o)
  return [...set].filter(o => o >= 0 && o <= length).sort((a, b) => a - b)
}

describe('recovery after SIGKILL', () => {
  for (const codec of ['lz4js', 'none'] as CodecName[]) {
    test(`codec ${codec}: the flushed records survive, the unflushed are lost`, async (t) => {
      const dir = await tmpDir('crash')
      t.after(() => rmDir(dir))
      const child = await runNode(FIXTURE_SCRIPT, ['crash', dir, codec, '20', '7'])
      assert.equal(child.signal, 'SIGKILL', `child ended with code ${child.code}: ${child.stderr}`)
      const info = JSON.parse(child.stdout.trim()) as { pid: number, tmp: string, written: number }
      assert.equal(info.written, 20)
      assert.equal(isAlive(info.pid), false)
      const ext = codec === 'none' ? '.fbf' : '.fbf.lz4'
      assert.ok(info.tmp.endsWith(ext + '.tmp'), info.tmp)
      assert.equal(path.dirname(info.tmp), dir)
      assert.deepEqual(await listDir(dir), [path.basename(info.tmp)])
      const before = await countRecords(info.tmp)
      assert.equal(before.records, 20)
      if (codec !== 'none') assert.match(String(before.error), /end mark/)

      const log = fakeLogger()
      const w = new ArchiveWriter({ dir, codec, logger: log })
      await w.ready()
      const sealedName = path.basename(info.tmp).slice(0, -'.tmp'.length)
      assert.deepEqual(await listDir(dir), [sealedName])
      const sealed = path.join(dir, sealedName)
      const after = await countRecords(sealed)
      assert.equal(after.records, 20)
      assert.equal(after.error, null, `the recovered file is not whole: ${String(after.error)}`)
      assert.deepEqual(await readUris(sealed), uriRange(0, 20))
      const infos = log.calls.filter(c => c.level === 'info')
      assert.equal(infos.length, 1)
      assert.equal(infos[0].obj.records, 20)
      assert.equal(infos[0].obj.file, sealed)
      await w.close()
      assert.deepEqual(await listDir(dir), [sealedName]) // the new writer wrote nothing

      if (codec !== 'none' && requireTool(t, 'lz4')) assert.equal(lz4Test(sealed).status, 0)
      const v = await runCli(['verify', dir])
      assert.equal(v.code, 0, v.stdout + v.stderr)
      assert.match(v.stdout, new RegExp(`^OK +${sealed.replace(/[.]/g, '\\.')} +records=20 `, 'm'))
    })
  }
})

describe('recoverTmpFile on cut files', () => {
  test('an LZ4 .tmp cut at many offsets keeps exactly the whole blocks', async (t) => {
    const hasLz4 = requireTool(t, 'lz4')
    const dir = await tmpDir('cut')
    t.after(() => rmDir(dir))
    const counts = [1, 3, 2, 5, 1, 4]
    const full = await multiBlockFile(dir, counts)
    const { ends, endMark } = blockEnds(full)
    assert.equal(ends.length, counts.length)
    assert.equal(endMark, ends[ends.length - 1])
    assert.equal(full.length, endMark + 8)
    const total = counts.reduce((a, b) => a + b, 0)
    const tmp = path.join(dir, `requests_20200101000000_${deadPid()}-0000abcd.fbf.lz4.tmp`)
    const sealedPath = tmp.slice(0, -4)
    // Cuts exactly at a block end are the next test's subject.
    const offsets = offsetsToTry(full.length, [7, ...ends], 53).filter(o => !ends.includes(o))
    assert.ok(offsets.length > 100)
    for (const cut of offsets) {
      await writeFile(tmp, full.subarray(0, cut))
      const r = await recoverTmpFile(tmp)
      const msg = `cut at ${cut} of ${full.length}`
      assert.equal(r.error, undefined, `${msg}: ${String(r.error)}`)
      assert.equal(r.file, tmp)
      assert.equal(existsSync(tmp), false, msg)
      const whole = ends.filter(e => e <= cut)
      const wholeEnd = whole.length === 0 ? 0 : whole[whole.length - 1]
      const records = counts.slice(0, whole.length).reduce((a, b) => a + b, 0)
      if (wholeEnd === 0) {
        assert.equal(r.sealed, undefined, msg)
        assert.equal(r.records, 0, msg)
        assert.equal(r.droppedBytes, cut, msg)
        assert.equal(existsSync(sealedPath), false, msg)
        continue
      }
      assert.equal(r.sealed, sealedPath, msg)
      assert.equal(r.records, cut === full.length ? total : records, msg)
      assert.equal(r.droppedBytes, cut === full.length ? 0 : cut - wholeEnd, msg)
      assert.equal((await stat(sealedPath)).size, wholeEnd + 8, msg)
      assert.deepEqual(await readUris(sealedPath), uriRange(0, r.records), msg)
      if (hasLz4) assert.equal(lz4Test(sealedPath).status, 0, `${msg}: lz4 -t: ${lz4Test(sealedPath).stderr}`)
      await unlink(sealedPath)
    }
  })

  test('frames without block or content checksums recover too (4-byte end mark)', async (t) => {
    const hasLz4 = requireTool(t, 'lz4')
    const dir = await tmpDir('cutnc')
    t.after(() => rmDir(dir))
    const counts = [2, 1, 3]
    const full = await multiBlockFile(dir, counts, { blockChecksum: false, contentChecksum: false })
    const { ends } = blockEnds(full)
    assert.equal(full.length, ends[2] + 4)
    const tmp = path.join(dir, `requests_20200101000000_${deadPid()}-00000001.fbf.lz4.tmp`)
    for (const cut of offsetsToTry(full.length, ends, 97).filter(o => !ends.includes(o))) {
      await writeFile(tmp, full.subarray(0, cut))
      const r = await recoverTmpFile(tmp)
      const whole = ends.filter(e => e <= cut)
      const records = counts.slice(0, whole.length).reduce((a, b) => a + b, 0)
      const msg = `cut at ${cut}`
      assert.equal(r.error, undefined, msg)
      assert.equal(r.records, records, msg)
      if (records === 0) {
        assert.equal(r.sealed, undefined, msg)
        continue
      }
      assert.equal((await stat(r.sealed ?? '')).size, whole[whole.length - 1] + 4, msg)
      assert.deepEqual(await readUris(r.sealed ?? ''), uriRange(0, records), msg)
      if (hasLz4) assert.equal(lz4Test(r.sealed ?? '').status, 0, msg)
      await unlink(r.sealed ?? '')
    }
  })

  test('a .tmp that ends exactly after a block (what a killed writer leaves) gets its end mark', async (t) => {
    // A file cut at a block boundary reads up to its end with no partial data, so recovery
    // takes it for a complete file and renames it without writing the end mark.
    const hasLz4 = requireTool(t, 'lz4')
    const dir = await tmpDir('cutb')
    t.after(() => rmDir(dir))
    const counts = [1, 3, 2]
    const full = await multiBlockFile(dir, counts)
    const { ends } = blockEnds(full)
    const tmp = path.join(dir, `requests_20200101000000_${deadPid()}-0000abce.fbf.lz4.tmp`)
    const problems: string[] = []
    for (const [k, cut] of ends.entries()) {
      await writeFile(tmp, full.subarray(0, cut))
      const r = await recoverTmpFile(tmp)
      const records = counts.slice(0, k + 1).reduce((a, b) => a + b, 0)
      assert.equal(r.error, undefined)
      assert.equal(r.records, records)
      assert.equal(r.droppedBytes, 0)
      const sealed = r.sealed ?? ''
      const c = await countRecords(sealed)
      const lz4 = hasLz4 ? lz4Test(sealed) : { status: 0, stderr: '' }
      const size = (await stat(sealed)).size
      if (size !== cut + 8 || c.error !== null || c.records !== records || lz4.status !== 0) {
        problems.push(`cut at ${cut}: sealed ${size} bytes (want ${cut + 8}), ${c.records} records read, ${String(c.error)}, lz4 -t ${lz4.status}`)
      }
      await unlink(sealed)
    }
    assert.deepEqual(problems, [])
  })

  test('a damaged block: the whole blocks before it are kept', async (t) => {
    const dir = await tmpDir('dmg')
    t.after(() => rmDir(dir))
    const counts = [2, 2, 2, 2]
    const full = await multiBlockFile(dir, counts)
    const { ends } = blockEnds(full)
    const bad = Buffer.from(full)
    bad[ends[1] + 10] ^= 0xFF // inside the third block's data
    const tmp = path.join(dir, `requests_20200101000000_${deadPid()}-00000002.fbf.lz4.tmp`)
    await writeFile(tmp, bad)
    const r = await recoverTmpFile(tmp)
    assert.equal(r.error, undefined)
    assert.equal(r.records, 4)
    assert.equal(r.droppedBytes, full.length - ends[1])
    assert.match(r.cut ?? '', /checksum/)
    assert.deepEqual(await readUris(r.sealed ?? ''), uriRange(0, 4))
    if (requireTool(t, 'lz4')) assert.equal(lz4Test(r.sealed ?? '').status, 0)
  })

  test('an empty .tmp and a header-only .tmp are deleted', async (t) => {
    const dir = await tmpDir('empty')
    t.after(() => rmDir(dir))
    const header = Buffer.from([0x04, 0x22, 0x4D, 0x18, 0x64, 0x70, 0xB9])
    for (const [name, bytes] of [['requests_20200101000000_1-00000000.fbf.lz4.tmp', Buffer.alloc(0)], ['requests_20200101000000_1-00000001.fbf.lz4.tmp', header], ['requests_20200101000000_1-00000002.fbf.tmp', Buffer.alloc(0)]] as const) {
      const file = path.join(dir, name)
      await writeFile(file, bytes)
      const r = await recoverTmpFile(file)
      assert.equal(r.error, undefined, name)
      assert.equal(r.sealed, undefined, name)
      assert.equal(r.records, 0, name)
      assert.equal(r.droppedBytes, bytes.length, name)
    }
    assert.deepEqual(await listDir(dir), [])
  })

  test('a raw .fbf.tmp cut mid-record keeps the whole records', async (t) => {
    const dir = await tmpDir('raw')
    t.after(() => rmDir(dir))
    const recs = Array.from({ length: 10 }, (_, i) => encoded(i, 20 + 31 * i, i % 2 === 0))
    const w = new ArchiveWriter({ dir, codec: 'none', recover: false })
    for (const r of recs) w.append(r)
    await w.close()
    const [name] = await listDir(dir)
    const full = await readFile(path.join(dir, name))
    await unlink(path.join(dir, name))
    const ends: number[] = []
    let at = 0
    for (const r of recs) ends.push(at += 8 + r.length)
    assert.equal(full.length, at)
    const tmp = path.join(dir, `requests_20200101000000_${deadPid()}-00000003.fbf.tmp`)
    for (const cut of offsetsToTry(full.length, ends, 11)) {
      await writeFile(tmp, full.subarray(0, cut))
      const r = await recoverTmpFile(tmp)
      const records = ends.filter(e => e <= cut).length
      const msg = `cut at ${cut}`
      assert.equal(r.error, undefined, msg)
      assert.equal(existsSync(tmp), false, msg)
      assert.equal(r.records, records, msg)
      if (records === 0) {
        assert.equal(r.sealed, undefined, msg)
        continue
      }
      assert.equal(r.droppedBytes, cut - ends[records - 1], msg)
      assert.deepEqual(await readFile(r.sealed ?? ''), full.subarray(0, ends[records - 1]), msg)
      assert.deepEqual(await readUris(r.sealed ?? ''), uriRange(0, records), msg)
      await unlink(r.sealed ?? '')
    }
  })

  test('a new writer recovers a dead process\'s cut .tmp when it starts', async (t) => {
    const dir = await tmpDir('wrec')
    t.after(() => rmDir(dir))
    const counts = [3, 4, 2]
    const full = await multiBlockFile(dir, counts)
    const { ends } = blockEnds(full)
    const tmp = path.join(dir, `requests_20200101000000_${deadPid()}-00000004.fbf.lz4.tmp`)
    await writeFile(tmp, full.subarray(0, ends[1] + 5))
    const w = new ArchiveWriter({ dir, codec: 'lz4js' })
    await w.ready()
    await w.close()
    assert.deepEqual(await listDir(dir), [path.basename(tmp).slice(0, -4)])
    assert.deepEqual(await readUris(dir), uriRange(0, 7))
  })
})

describe('which .tmp files recovery touches', () => {
  test('skipLive leaves live processes\' files and this process\'s open files alone', async (t) => {
    const dir = await tmpDir('live')
    t.after(() => rmDir(dir))
    const full = await multiBlockFile(dir, [2, 2, 2])
    const { ends } = blockEnds(full)
    const cut = full.subarray(0, ends[1] + 3) // two whole blocks, then a partial one
    const sleeper = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' })
    const exited = once(sleeper, 'exit')
    t.after(async () => {
      if (sleeper.exitCode === null && sleeper.signalCode === null) {
        sleeper.kill('SIGKILL')
        await exited
      }
    })
    await once(sleeper, 'spawn')
    const pid = sleeper.pid as number
    assert.ok(isAlive(pid))
    const dead = deadPid()
    const names = {
      live: `requests_20200101000000_${pid}-00000001.fbf.lz4.tmp`,
      dead: `requests_20200101000000_${dead}-00000002.fbf.lz4.tmp`,
      registered: `requests_20200101000000_${dead}-00000003.fbf.lz4.tmp`,
      own: `requests_20200101000000_${process.pid}-00000004.fbf.lz4.tmp`,
      noPid: 'other.fbf.lz4.tmp'
    }
    for (const n of Object.values(names)) await writeFile(path.join(dir, n), cut)
    const registered = path.join(dir, names.registered)
    const skip = (file: string): boolean => file === registered

    let results = await recoverTmpFiles(dir, { skipLive: true, skip })
    assert.deepEqual(results.map(r => path.basename(r.file)), [names.noPid, names.dead, names.own].sort())
    for (const r of results) {
      assert.equal(r.error, undefined)
      assert.equal(r.records, 4)
    }
    assert.deepEqual(await readFile(path.join(dir, names.live)), cut)
    assert.deepEqual(await readFile(registered), cut)

    // Once the process is gone its file is recovered; a registered file never is.
    sleeper.kill('SIGKILL')
    await exited
    assert.equal(isAlive(pid), false)
    results = await recoverTmpFiles(dir, { skipLive: true, skip })
    assert.deepEqual(results.map(r => path.basename(r.file)), [names.live])
    assert.equal(results[0].records, 4)
    assert.deepEqual(await readFile(registered), cut)
    results = await recoverTmpFiles(dir)
    assert.deepEqual(results.map(r => path.basename(r.file)), [names.registered])
    assert.equal((await listDir(dir)).filter(n => n.endsWith('.tmp')).length, 0)
  })

  test('a second writer on the same directory does not touch the first one\'s open file', async (t) => {
    const dir = await tmpDir('two')
    t.after(() => rmDir(dir))
    const a = new ArchiveWriter({ dir, codec: 'lz4js', flushMs: 0 })
    for (let i = 0; i < 5; i++) a.append(encoded(i))
    await a.flush()
    const tmp = a.stats().currentFile as string
    const bytes = await readFile(tmp)
    const b = new ArchiveWriter({ dir, codec: 'lz4js', flushMs: 0 })
    await b.ready()
    assert.deepEqual(await readFile(tmp), bytes)
    for (let i = 5; i < 8; i++) a.append(encoded(i))
    await a.close()
    await b.close()
    assert.deepEqual(await listDir(dir), [path.basename(tmp).slice(0, -4)])
    assert.deepEqual(await readUris(dir), uriRange(0, 8))
  })
})
