// Options of the S3 features, checked up front with messages naming the option, and the AWS SDK
// kept out of every process that does not use an s3:// URL.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { test } from 'node:test'
import Fastify from 'fastify'
import blackhole from '../plugin/index.js'
import { ArchiveWriter } from '../lib/archive/writer.js'
import { parseS3Url } from '../lib/s3/url.js'
import { normalizePresetOptions } from '../preset/server/options.js'
import { rmDir, tmpDir } from './tools.js'

test('s3:// URLs: bucket and a prefix that never takes in a sibling', () => {
  assert.deepEqual(parseS3Url('s3://bkt'), { bucket: 'bkt', prefix: '' })
  assert.deepEqual(parseS3Url('s3://bkt/'), { bucket: 'bkt', prefix: '' })
  assert.deepEqual(parseS3Url('s3://bkt/rec'), { bucket: 'bkt', prefix: 'rec/' })
  assert.deepEqual(parseS3Url('s3://bkt//a//b/'), { bucket: 'bkt', prefix: 'a/b/' })
  assert.deepEqual(parseS3Url('s3://bkt/a/requests_1.fbf.lz4'), { bucket: 'bkt', prefix: 'a/requests_1.fbf.lz4' })
  assert.throws(() => parseS3Url('s3:///x', '--out'), /--out must look like s3:\/\/bucket\/prefix/)
  assert.throws(() => parseS3Url('s3://a b/x', '--out'), /--out: 'a b' is not a bucket name/)
})

test('preset: s3 options are checked with the flag names', () => {
  const u = normalizePresetOptions({ out: 's3://bkt/rec', s3Endpoint: 'http://127.0.0.1:9000', s3HostId: 'sink-1' })
  assert.equal(u.out, './archive-staging')
  assert.deepEqual(u.upload, { url: 's3://bkt/rec', endpoint: 'http://127.0.0.1:9000', hostId: 'sink-1' })
  assert.equal(normalizePresetOptions({ out: './x' }).upload, null)
  assert.equal(normalizePresetOptions({ out: 's3://bkt/rec', staging: '/tmp/st' }).out, '/tmp/st')
  assert.throws(() => normalizePresetOptions({ out: './x', staging: './y' }), /--staging only applies when --out is an s3:\/\/ URL/)
  assert.throws(() => normalizePresetOptions({ out: './x', s3Endpoint: 'http://h' }), /--s3-endpoint only applies/)
  assert.throws(() => normalizePresetOptions({ out: 's3://bkt/rec', retainBytes: '1MiB' }), /--retain-bytes cannot be used with an s3:\/\/ --out/)
  assert.throws(() => normalizePresetOptions({ out: 's3://bkt/rec', s3Endpoint: 'ftp://h' }), /--s3-endpoint must be an http\(s\) URL/)
  assert.throws(() => normalizePresetOptions({ out: 's3://bkt/rec', s3HostId: 'a/b' }), /--s3-host-id must match/)
  assert.throws(() => normalizePresetOptions({ out: 's3://bkt/rec', s3ForcePathStyle: 'maybe' }), /--s3-force-path-style must be true or false/)
})

test('plugin: the upload option is validated at registration, naming it', async (t) => {
  const dir = await tmpDir('s3-opts')
  t.after(() => rmDir(dir))
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ dir, upload: 'http://x/y' }, /option "upload" must look like s3:\/\/bucket\/prefix, got 'http:\/\/x\/y'/],
    [{ dir, upload: 's3://' }, /option "upload" must look like s3:\/\/bucket\/prefix/],
    [{ dir, upload: { url: 's3://bkt/p', partSize: 1024 } }, /option "upload\.partSize" must be an integer >= 5242880/],
    [{ dir, upload: { url: 's3://bkt/p', endpoint: 'nope' } }, /option "upload\.endpoint" must be an http\(s\) URL/],
    [{ dir, upload: 's3://bkt/p', retainBytes: 1 << 20 }, /option "retainBytes" must be 0 with `upload`/],
    [{ dir, upload: 's3://bkt/p', retainFiles: 3 }, /option "retainFiles" must be 0 with `upload`/]
  ]
  for (const [opts, re] of cases) {
    const app = Fastify()
    await assert.rejects(async () => { await app.register(blackhole, opts as never).ready() }, re)
    await app.close().catch(() => {})
  }
  const writer = new ArchiveWriter({ dir, recover: false, flushOnExit: false })
  const app = Fastify()
  await assert.rejects(async () => { await app.register(blackhole, { writer, upload: 's3://bkt/p' }).ready() }, /option "upload" must be absent when `writer` is given/)
  await app.close().catch(() => {})
  await writer.close()
})

test('the AWS SDK is not loaded by the plugin, the preset or local reading', () => {
  const dist = fileURLToPath(new URL('..', import.meta.url))
  const script = `
    import { createRequire } from 'node:module'
    const require = createRequire(import.meta.url)
    await import(${JSON.stringify(dist + 'plugin/index.js')})
    await import(${JSON.stringify(dist + 'preset/app.js')})
    const r = await import(${JSON.stringify(dist + 'lib/archive/reader.js')})
    await r.listArchiveFiles([${JSON.stringify(dist)}])
    const before = Object.keys(require.cache).filter(k => k.includes('@aws-sdk')).length
    await (await import(${JSON.stringify(dist + 'lib/s3/client.js')})).loadS3Sdk()
    const after = Object.keys(require.cache).filter(k => k.includes('@aws-sdk')).length
    console.log(JSON.stringify({ before, after }))`
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000, cwd: dist })
  assert.equal(r.status, 0, r.stderr)
  const { before, after } = JSON.parse(r.stdout) as { before: number, after: number }
  assert.equal(before, 0, 'no @aws-sdk module before an s3:// URL is used')
  assert.ok(after > 0, 'the check can see the SDK once it is loaded')
})
