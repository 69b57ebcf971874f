// The plugin as a Fastify citizen: the archive decorator, registration errors, encapsulation,
// several apps in one process, sealed files after close, and serving that never breaks.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import type { FastifyInstance } from 'fastify'
import blackhole from '../plugin/index.js'
import { readFileRecords } from '../lib/archive/reader.js'
import { hasTool } from './tools.js'
import { Scope, entries, httpRequest, listen, records } from './fixtures-plugin.js'

const T = { timeout: 30_000 }

function routes (app: FastifyInstance): void {
  app.get('/hello', async () => ({ hello: 'world' }))
  app.post('/echo', async req => req.body)
}

test('app.archive: the decorator exposes record, flush, rotate, stats and listSealed', T, async t => {
  const scope = new Scope(t)
  const dir = await scope.dir('decorator')
  const app = await scope.app(routes, { dir })
  assert.ok(app.hasDecorator('archive'))
  for (const fn of ['record', 'flush', 'rotate', 'stats', 'listSealed'] as const) assert.equal(typeof app.archive[fn], 'function', fn)
  assert.equal(app.archive.dir, path.resolve(dir))
  const s = app.archive.stats()
  assert.deepEqual(s.capture, { seen: 0, recorded: 0, skipped: { route: 0, filter: 0, sample: 0, rate: 0 }, truncated: 0, overBudget: 0, aborted: 0, withheldBodies: 0, errors: 0 })
  assert.equal(s.archive.recordsWritten, 0)
  assert.deepEqual(await app.archive.listSealed(), [])
  assert.equal((await app.inject({ url: '/hello' })).statusCode, 200)
  assert.equal(app.archive.stats().capture.seen, 1)
  assert.equal(app.archive.stats().capture.recorded, 1)
})

test('archive.record(): a hand-built record lands in the file as given (no sampling, no redaction)', T, async t => {
  const scope = new Scope(t)
  const dir = await scope.dir('record')
  const app = await scope.app(routes, { dir, sample: 0 })
  const body = Buffer.from([0, 1, 2, 0xff, 0xfe, 10, 13])
  const ok = app.archive.record({
    id: 'hand-1',
    method: 'PATCH',
    uri: '/hand/made?x=1',
    headers: 'Host: example.test\r\nAuthorization: Bearer kept-as-given\r\n\r\n',
    body,
    timeNs: 1_700_000_000_123_456_789n,
    remoteAddr: '192.0.2.7',
    remotePort: 4242,
    httpVersion: '1.1',
    responseStatus: 201,
    responseTimeNs: 12345n
  })
  assert.equal(ok, true)
  assert.equal((await app.inject({ url: '/hello' })).statusCode, 200, 'sample 0: requests are not recorded')
  await app.close()
  const recs = await records(dir)
  assert.equal(recs.length, 1)
  const r = recs[0]
  assert.equal(r.id, 'hand-1')
  assert.equal(r.method, 'PATCH')
  assert.equal(r.uri, '/hand/made?x=1')
  assert.equal(r.headers, 'Host: example.test\r\nAuthorization: Bearer kept-as-given\r\n\r\n')
  assert.deepEqual(Buffer.from(r.body), body)
  assert.equal(r.timeNs, 1_700_000_000_123_456_789n)
  assert.equal(r.remoteAddr, '192.0.2.7')
  assert.equal(r.remotePort, 4242)
  assert.equal(r.httpVersion, '1.1')
  assert.equal(r.responseStatus, 201)
  assert.equal(r.responseTimeNs, 12345n)
  assert.equal(r.bodyTruncated, false)
})

test('archive.flush() puts records on disk; rotate() seals the file, the next record starts a new one', T, async t => {
  const scope = new Scope(t)
  const dir = await scope.dir('rotate')
  const app = await scope.app(routes, { dir, codec: 'none' })
  assert.equal((await app.inject({ url: '/hello?n=1' })).statusCode, 200)
  await app.archive.flush()
  const tmp = app.archive.stats().archive.currentFile
  assert.ok(tmp !== null && tmp.endsWith('.fbf.tmp'), `an open file: ${tmp}`)
  const flushed = []
  for await (const raw of readFileRecords(tmp)) flushed.push(raw)
  assert.equal(flushed.length, 1, 'flushed record readable from the open file')
  assert.deepEqual(await app.archive.listSealed(), [])

  await app.archive.rotate()
  const one = await app.archive.listSealed()
  assert.equal(one.length, 1)
  assert.equal(one[0].path, tmp.slice(0, -'.tmp'.length))
  assert.equal(one[0].name, path.basename(one[0].path))
  assert.ok(one[0].bytes > 0 && one[0].mtime instanceof Date)
  assert.equal(app.archive.stats().archive.currentFile, null)

  assert.equal((await app.inject({ url: '/hello?n=2' })).statusCode, 200)
  assert.equal((await app.inject({ url: '/hello?n=3' })).statusCode, 200)
  await app.archive.rotate()
  const two = await app.archive.listSealed()
  assert.equal(two.length, 2)
  assert.equal(two[0].path, one[0].path, 'oldest first')
  await app.archive.rotate() // nothing new: no empty file
  assert.equal((await app.archive.listSealed()).length, 2)
  await app.close()
  assert.deepEqual((await entries(dir)).map(n => path.join(dir, n)), two.map(f => f.path))
  assert.deepEqual((await records(dir)).map(r => r.uri), ['/hello?n=1', '/hello?n=2', '/hello?n=3'])
  assert.equal(app.archive.stats().archive.filesSealed, 2)
})

test('idHeader, originalUriHeader and recordResponse options', T, async t => {
  const scope = new Scope(t)
  const dir = await scope.dir('id-options')
  const app = await scope.app(routes, { dir, idHeader: 'X-Trace', originalUriHeader: false, recordResponse: false })
  const headers = { 'x-trace': 'trace-7', 'x-request-id': 'not-this', 'x-original-uri': '/not/this' }
  assert.equal((await app.inject({ url: '/hello?a=1', headers })).statusCode, 200)
  const port = await listen(app)
  assert.equal((await httpRequest(port, { path: '/hello?b=2', headers })).status, 200)
  await app.close()
  const recs = await records(dir)
  assert.equal(recs.length, 2)
  assert.deepEqual(recs.map(r => [r.id, r.uri, r.responseStatus, r.responseTimeNs]), [['trace-7', '/hello?a=1', 0, 0n], ['trace-7', '/hello?b=2', 0, 0n]])
})

test('registering the plugin twice in one instance fails with a clear error', T, async t => {
  const scope = new Scope(t)
  const dir = await scope.dir('twice')
  const app = scope.fastify()
  await app.register(blackhole, { dir })
  await assert.rejects(async () => { await app.register(blackhole, { dir }) }, /fastify-blackhole.*"archive".*registered twice/)
})

test('an app that already has an `archive` decorator: registration fails, naming it', T, async t => {
  const scope = new Scope(t)
  const dir = await scope.dir('taken')
  const app = scope.fastify()
  app.decorate('archive', { mine: true } as never)
  await assert.rejects(async () => { await app.register(blackhole, { dir }) }, /already has an "archive" decorator/)
  assert.deepEqual(await entries(dir), [])
})

test('encapsulation: registered in a child plugin, it records only that child\'s routes', T, async t => {
  const scope = new Scope(t)
  const dir = await scope.dir('encap')
  const app = scope.fastify()
  app.get('/root', async () => 'root')
  let child: FastifyInstance | undefined
  await app.register(async c => {
    await c.register(blackhole, { dir })
    c.get('/child', async () => 'child')
    c.post('/child/echo', async req => req.body)
    await c.register(async grandchild => { grandchild.get('/child/nested', async () => 'nested') })
    child = c
  })
  await app.register(async sibling => { sibling.get('/sibling', async () => 'sibling') })
  await app.ready()
  assert.equal(app.hasDecorator('archive'), false, 'the root does not see the child\'s decorator')
  const port = await listen(app)
  for (const url of ['/root', '/child', '/sibling', '/child/nested', '/nope']) {
    assert.equal((await app.inject({ url })).statusCode, url === '/nope' ? 404 : 200)
    assert.equal((await httpRequest(port, { path: url })).status, url === '/nope' ? 404 : 200)
  }
  assert.equal((await app.inject({ method: 'POST', url: '/child/echo', payload: { a: 1 } })).body, '{"a":1}')
  const stats = child?.archive.stats()
  await app.close()
  const got = (await records(dir)).map(r => `${r.method} ${r.uri}`)
  assert.deepEqual(got, ['GET /child', 'GET /child', 'GET /child/nested', 'GET /child/nested', 'POST /child/echo'])
  assert.equal(stats?.capture.seen, 5)
})

test('two apps in one process writing two directories keep their records apart', T, async t => {
  const scope = new Scope(t)
  const [dirA, dirB] = [await scope.dir('two-a'), await scope.dir('two-b')]
  const a = await scope.app(app => { app.get('/a/:n', async () => 'a') }, { dir: dirA })
  const b = await scope.app(app => { app.get('/b/:n', async () => 'b') }, { dir: dirB, codec: 'none' })
  const [pa, pb] = [await listen(a), await listen(b)]
  for (let i = 0; i < 20; i++) {
    assert.equal((await httpRequest(pa, { path: `/a/${i}` })).status, 200)
    assert.equal((await b.inject({ url: `/b/${i}` })).statusCode, 200)
    assert.equal((await httpRequest(pb, { path: `/b/s${i}` })).status, 200)
    assert.equal((await a.inject({ url: `/a/i${i}` })).statusCode, 200)
  }
  await Promise.all([a.close(), b.close()])
  const ra = (await records(dirA)).map(r => r.uri)
  const rb = (await records(dirB)).map(r => r.uri)
  assert.equal(ra.length, 40)
  assert.equal(rb.length, 40)
  assert.ok(ra.every(u => u.startsWith('/a/')))
  assert.ok(rb.every(u => u.startsWith('/b/')))
  assert.ok((await entries(dirA)).every(n => n.endsWith('.fbf.lz4')))
  assert.ok((await entries(dirB)).every(n => n.endsWith('.fbf')))
})

test('after close only sealed, whole files remain and they hold one record per request', T, async t => {
  const scope = new Scope(t)
  const dir = await scope.dir('sealed')
  const app = await scope.app(routes, { dir, batchBytes: 2048, rotateBytes: 4096 })
  const port = await listen(app)
  let made = 0
  for (let i = 0; i < 60; i++) {
    assert.equal((await app.inject({ method: 'POST', url: `/echo?i=${i}`, payload: { i, pad: 'x'.repeat(100) } })).statusCode, 200)
    assert.equal((await httpRequest(port, { path: `/hello?i=${i}`, headers: { 'x-request-id': `sock-${i}` } })).status, 200)
    made += 2
  }
  await app.close()
  const names = await entries(dir)
  assert.ok(names.length > 1, `rotation made several files (${names.length})`)
  for (const n of names) assert.match(n, /^requests_.*\.fbf\.lz4$/, `sealed name, no .tmp: ${n}`)
  let total = 0
  for (const n of names) {
    // Each file reads to its end mark without error.
    for await (const _ of readFileRecords(path.join(dir, n))) total++ // eslint-disable-line @typescript-eslint/no-unused-vars
    if (hasTool('lz4')) assert.equal(spawnSync('lz4', ['-t', path.join(dir, n)]).status, 0, `lz4 -t ${n}`)
  }
  assert.equal(total, made)
  const recs = await records(dir)
  assert.equal(recs.length, made)
  assert.equal(new Set(recs.map(r => r.uri)).size, made)
  assert.equal(recs.filter(r => r.id.startsWith('sock-')).length, 60)
  assert.equal(app.archive.stats().archive.recordsWritten, made)
})

test('an unwritable directory (a path under a regular file) fails registration, naming the directory', T, async t => {
  const scope = new Scope(t)
  const base = await scope.dir('unwritable')
  const file = path.join(base, 'plain-file')
  await writeFile(file, 'not a directory')
  const dir = path.join(file, 'archive')
  const app = scope.fastify()
  await assert.rejects(async () => { await app.register(blackhole, { dir }) }, (err: Error) => {
    assert.ok(err.message.includes(dir), `message names ${dir}: ${err.message}`)
    return true
  })
})

test('recording never breaks serving: with a tiny maxPendingBytes every request gets 200, drops are counted', T, async t => {
  const scope = new Scope(t)
  const dir = await scope.dir('pending')
  const app = await scope.app(routes, { dir, maxPendingBytes: 1000 })
  const port = await listen(app)
  let ok = 0
  for (let i = 0; i < 400; i += 50) {
    const batch = []
    for (let j = i; j < i + 50; j++) batch.push(app.inject({ method: 'POST', url: `/echo?i=${j}`, payload: { j, pad: 'y'.repeat(200) } }))
    for (const res of await Promise.all(batch)) if (res.statusCode === 200) ok++
  }
  for (let i = 0; i < 100; i++) {
    const res = await httpRequest(port, { path: `/hello?s=${i}` })
    if (res.status === 200) ok++
  }
  assert.equal(ok, 500, 'every request answered 200')
  const before = app.archive.stats()
  await app.close()
  const after = app.archive.stats()
  const recs = await records(dir)
  assert.ok(after.archive.recordsDropped > 0, 'some records were dropped')
  assert.equal(after.archive.recordsDropped, after.archive.dropped.backpressure + after.archive.dropped.tooLarge)
  assert.equal(before.capture.seen, 500)
  assert.equal(before.capture.recorded + after.archive.recordsDropped, 500, 'each request recorded or counted as dropped')
  assert.equal(recs.length, before.capture.recorded)
  assert.equal(after.archive.recordsWritten, recs.length)
})
