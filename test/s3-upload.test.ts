// --out s3://: sealed files go to a real S3-protocol server (s3rver on loopback), byte for byte,
// and nothing sealed is lost to a store outage or a sink crash.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { after, test } from 'node:test'
import { ArchiveWriter } from '../lib/archive/writer.js'
import { archiveSources, readArchive } from '../lib/archive/reader.js'
import { S3Uploader } from '../lib/s3/uploader.js'
import { cleanEnv, isArchive, isTmp, listDir, request, rmDir, startServe, stopAll, tmpDir, noise } from './fixtures-preset.js'
import { requireTool } from './tools.js'
import { S3Store, sha256, until } from './fixtures-s3.js'

after(stopAll)

async function s3Records (store: S3Store, prefix: string): Promise<Array<{ id: string, uri: string, body: Buffer }>> {
  const out = []
  for await (const r of readArchive(store.url(prefix), { sources: archiveSources({ endpoint: store.endpoint }) })) out.push({ id: r.id, uri: r.uri, body: Buffer.from(r.body) })
  return out
}

async function getJson (port: number, p: string): Promise<Record<string, any>> {
  const r = await request(port, { path: p })
  assert.equal(r.status, 200)
  return JSON.parse(r.body.toString()) as Record<string, any>
}

test('sealed files are uploaded byte for byte (single and multipart), then removed from staging', { timeout: 60_000 }, async (t) => {
  const store = await S3Store.start(t)
  if (store === null) return
  const dir = await tmpDir('s3-up')
  t.after(async () => { await store.destroy(); await rmDir(dir) })
  const sealed = new Map<string, string>()
  const up = new S3Uploader({ dir, upload: { url: store.url('rec'), endpoint: store.endpoint, hostId: 'sink-a', partSize: 5 << 20, retryMinMs: 50, retryMaxMs: 200 } })
  // The sealed bytes are hashed before the uploader may delete the file.
  const w = new ArchiveWriter({
    dir,
    flushMs: 0,
    onSeal: f => {
      sealed.set(path.basename(f.path), sha256(readFileSync(f.path)))
      up.enqueue(f.path, f.bytes)
    }
  })
  await w.ready()
  await up.start()
  // Incompressible bodies: the first file is about 12 MiB, so three 5 MiB parts.
  for (let i = 0; i < 12; i++) w.record({ id: `big-${i}`, method: 'POST', uri: `/big/${i}`, headers: 'Host: x\r\n\r\n', body: noise(1 << 20, i), timeNs: BigInt(i + 1) })
  await w.rotate()
  for (let i = 0; i < 5; i++) w.record({ id: `small-${i}`, method: 'GET', uri: `/small/${i}`, headers: 'Host: x\r\n\r\n', timeNs: BigInt(100 + i) })
  await w.close()
  assert.equal(sealed.size, 2)
  await until('both files uploaded', () => up.stats().uploaded === 2, 30_000)
  await up.close()

  const keys = await store.keys('rec/')
  assert.deepEqual(keys, [...sealed.keys()].sort().map(n => `rec/sink-a/${n}`))
  const canLz4 = requireTool(t, 'lz4')
  for (const key of keys) {
    const body = await store.get(key)
    assert.equal(sha256(body), sealed.get(path.basename(key)), `${key}: object bytes differ from the sealed file`)
    if (canLz4) {
      const copy = path.join(dir, 'downloaded.lz4')
      writeFileSync(copy, body)
      const r = spawnSync('lz4', ['-t', copy], { encoding: 'utf8' })
      assert.equal(r.status, 0, `lz4 -t ${key}: ${r.stderr}`)
    }
  }
  assert.equal((await listDir(dir)).filter(isArchive).length, 0, 'uploaded files are removed from staging')
  const s = up.stats()
  assert.equal(s.failures, 0)
  assert.equal(s.pending, 0)
  assert.equal(s.unverifiedEtags, 0, 'every upload was confirmed by its MD5 ETag')
  assert.ok(s.uploadedBytes > 12 << 20)
})

test('a store outage loses nothing: the sink keeps answering, failures are counted, files go up when the store is back', { timeout: 90_000 }, async (t) => {
  const store = await S3Store.start(t)
  if (store === null) return
  const staging = await tmpDir('s3-outage')
  t.after(async () => { await store.destroy(); await rmDir(staging) })
  const sink = await startServe(['--out', store.url('out'), '--staging', staging, '--s3-endpoint', store.endpoint, '--s3-host-id', 'sink-1',
    '--rotate-seconds', '1', '--flush-ms', '100', '--grace', '10s', '--log-level', 'error'], { env: cleanEnv() })
  await store.down()
  for (let i = 0; i < 30; i++) {
    const r = await request(sink.port, { method: 'POST', path: `/outage/${i}`, body: `body-${i}` })
    assert.equal(r.status, 200, 'the sink answers whatever the store does')
    await new Promise(resolve => setTimeout(resolve, 80))
  }
  await until('failed uploads in the stats', async () => {
    const s = await getJson(sink.port, '/_blackhole/stats')
    return s.upload.failures > 0 && s.upload.pending > 0
  })
  const during = await getJson(sink.port, '/_blackhole/stats')
  assert.equal(during.upload.uploaded, 0)
  assert.match(during.upload.target, /^s3:\/\/recordings\/out\/sink-1\/$/)
  assert.ok((await listDir(staging)).filter(isArchive).length > 0, 'sealed files wait in staging')

  await store.up()
  await until('staging drained', async () => {
    const s = await getJson(sink.port, '/_blackhole/stats')
    return s.upload.pending === 0 && s.upload.uploaded > 0
  }, 60_000)
  const exit = await sink.proc.stop()
  assert.equal(exit.code, 0, sink.proc.output)
  assert.deepEqual((await listDir(staging)).filter(n => isArchive(n) || isTmp(n)), [], 'the last file is uploaded at shutdown')

  const recs = await s3Records(store, 'out')
  assert.deepEqual(recs.map(r => r.uri).sort(), Array.from({ length: 30 }, (_, i) => `/outage/${i}`).sort())
  for (const r of recs) assert.equal(r.body.toString(), `body-${r.uri.split('/')[2]}`)
  for (const k of await store.keys('out/')) assert.match(k, /^out\/sink-1\/requests_\d{14}_\d+-[0-9a-f]+\.fbf\.lz4$/)
})

test('files left in staging by a killed sink are uploaded by the next start', { timeout: 90_000 }, async (t) => {
  const store = await S3Store.start(t)
  if (store === null) return
  const staging = await tmpDir('s3-restart')
  t.after(async () => { await store.destroy(); await rmDir(staging) })
  const args = ['--out', store.url('crash'), '--staging', staging, '--s3-endpoint', store.endpoint, '--s3-host-id', 'sink-2',
    '--rotate-seconds', '1', '--flush-ms', '100', '--log-level', 'error']
  await store.down()
  const first = await startServe(args, { env: cleanEnv() })
  for (let i = 0; i < 20; i++) {
    assert.equal((await request(first.port, { method: 'PUT', path: `/crash/${i}`, body: `payload-${i}` })).status, 200)
    if (i === 9) await new Promise(resolve => setTimeout(resolve, 1300)) // one file sealed, one still open
  }
  await new Promise(resolve => setTimeout(resolve, 500)) // the last batch is written
  first.proc.signal('SIGKILL')
  await first.proc.waitExit()
  const left = await listDir(staging)
  assert.ok(left.some(isArchive), `a sealed file is left: ${left.join(', ')}`)
  assert.ok(left.some(isTmp), `an unsealed file is left: ${left.join(', ')}`)

  await store.up()
  const second = await startServe(args, { env: cleanEnv() })
  await until('leftovers uploaded', async () => (await listDir(staging)).filter(n => isArchive(n) || isTmp(n)).length === 0, 60_000)
  const s = await getJson(second.port, '/_blackhole/stats')
  assert.equal(s.upload.uploaded, left.length)
  assert.equal((await second.proc.stop()).code, 0, second.proc.output)

  const recs = await s3Records(store, 'crash')
  assert.deepEqual(recs.map(r => r.uri).sort(), Array.from({ length: 20 }, (_, i) => `/crash/${i}`).sort())
})

test('a graceful stop with the store down exits 0 and leaves the sealed file in staging', { timeout: 60_000 }, async (t) => {
  const store = await S3Store.start(t)
  if (store === null) return
  const staging = await tmpDir('s3-stop')
  t.after(async () => { await store.destroy(); await rmDir(staging) })
  await store.down()
  const sink = await startServe(['--out', store.url('stop'), '--staging', staging, '--s3-endpoint', store.endpoint, '--grace', '2s', '--log-level', 'error'], { env: cleanEnv() })
  for (let i = 0; i < 3; i++) assert.equal((await request(sink.port, { path: `/stop/${i}` })).status, 200)
  const started = Date.now()
  const exit = await sink.proc.stop()
  assert.equal(exit.code, 0, sink.proc.output)
  assert.ok(Date.now() - started < 5000, 'uploads give up within the grace')
  const left = await listDir(staging)
  assert.equal(left.filter(isArchive).length, 1, `one sealed file waits for the next start: ${left.join(', ')}`)
  assert.equal(left.filter(isTmp).length, 0)
  await store.up()
  assert.deepEqual(await store.keys('stop/'), [], 'nothing reached the store')
})
