// The plugin records every kind of request body byte for byte, and the app answers exactly as
// it does without the plugin: each case runs the same request against an app with the plugin
// and one without, through inject() and through a real loopback socket.
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import net from 'node:net'
import { Readable } from 'node:stream'
import zlib, { gzipSync } from 'node:zlib'
import multipart from '@fastify/multipart'
import type { FastifyInstance, FastifyServerOptions } from 'fastify'
import blackhole, { type BlackholeOptions } from '../plugin/index.js'
import type { ArchiveRecord } from '../lib/archive/reader.js'
import {
  Scope, headerOf, headerLines, httpRequest, injected, listen, noise, nowNs, parseResponse, rawRequest, records,
  sha256, sleep, type Answer, type HttpResult
} from './fixtures-plugin.js'

const T = { timeout: 30_000 }

type Payload = NodeJS.ReadableStream & { receivedEncodedLength?: number }

/** The routes every case runs against, with and without the plugin. */
async function bodyRoutes (app: FastifyInstance): Promise<void> {
  await app.register(multipart)
  // @fastify/formbody is not installed: a custom urlencoded parser, as an app would write.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
    const out: Record<string, string[]> = {}
    for (const [k, v] of new URLSearchParams(body as string)) (out[k] ??= []).push(v)
    done(null, out)
  })
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (_req, body, done) => done(null, body))

  app.post('/json', async req => req.body)
  app.post('/text', async (req, reply) => reply.type('text/plain; charset=utf-8').send(req.body))
  app.post('/form', async req => req.body)
  app.post('/bytes', async req => {
    const b = req.body as Buffer
    return { length: b.length, sha256: sha256(b) }
  })
  app.post('/upload', async req => {
    const parts: unknown[] = []
    for await (const part of req.parts()) {
      if (part.type === 'file') {
        const b = await part.toBuffer()
        parts.push({ field: part.fieldname, filename: part.filename, mimetype: part.mimetype, length: b.length, sha256: sha256(b) })
      } else {
        parts.push({ field: part.fieldname, value: part.value })
      }
    }
    return parts
  })
  app.post('/any', async req => ({ body: req.body ?? null }))
  app.get('/hello', async (_req, reply) => reply.type('text/plain').header('x-app', 'yes').send('hello world'))
  app.post('/throw', async () => { throw new Error('boom from the handler') })
  // gzip-encoded request bodies, decoded by the app in preParsing (the @fastify/compress way).
  await app.register(async sub => {
    sub.addHook('preParsing', (req, _reply, payload, done) => {
      if (req.headers['content-encoding'] !== 'gzip') {
        done(null, payload)
        return
      }
      const gz = zlib.createGunzip() as unknown as Payload
      gz.receivedEncodedLength = 0
      payload.on('data', (c: Buffer) => { gz.receivedEncodedLength = (gz.receivedEncodedLength ?? 0) + c.length })
      payload.pipe(gz as unknown as NodeJS.WritableStream)
      done(null, gz as never)
    })
    sub.post('/gz', async req => ({ decoded: req.body }))
  })
}

interface Case {
  method: string
  url: string
  headers?: Record<string, string>
  body?: Buffer
}

interface Compared {
  inject: Answer
  socket: HttpResult
  injectRecord: ArchiveRecord
  socketRecord: ArchiveRecord
  stats: ReturnType<FastifyInstance['archive']['stats']>
}

/** A response body parsed as UTF-8 JSON. */
function json (a: { body: string }): any {
  return JSON.parse(Buffer.from(a.body, 'latin1').toString('utf8'))
}

function bytesEqual (actual: Uint8Array, expected: Uint8Array, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`)
  assert.ok(Buffer.from(actual).equals(Buffer.from(expected)), `${what}: bytes differ`)
}

/**
 * Sends `c` through inject and a real socket to an app with the plugin and one without,
 * asserts the answers are identical, closes the app and returns both records.
 */
async function compare (t: TestContext, c: Case, fastifyOpts: FastifyServerOptions = {}, bh: Partial<BlackholeOptions> = {}): Promise<Compared> {
  const scope = new Scope(t)
  const dir = await scope.dir('bodies')
  const withPlugin = await scope.app(bodyRoutes, { dir, ...bh }, fastifyOpts)
  const bare = await scope.app(bodyRoutes, null, fastifyOpts)

  const inj = (app: FastifyInstance): Promise<Answer> => app.inject({
    method: c.method as 'POST', url: c.url, headers: { ...c.headers, 'x-via': 'inject' }, payload: c.body
  }).then(injected)
  const inject = await inj(withPlugin)
  assert.deepEqual(inject, await inj(bare), 'inject: same answer with and without the plugin')

  const [pw, pb] = [await listen(withPlugin), await listen(bare)]
  const sock = (port: number): Promise<HttpResult> => httpRequest(port, {
    method: c.method, path: c.url, headers: { ...c.headers, 'x-via': 'socket' }, body: c.body
  })
  const socket = await sock(pw)
  const { localPort: _a, raw: _b, ...socketAnswer } = socket
  const { localPort: _c, raw: _d, ...bareAnswer } = await sock(pb)
  assert.deepEqual(socketAnswer, bareAnswer, 'socket: same answer with and without the plugin')
  assert.equal(socket.status, inject.status, 'inject and socket agree')

  const stats = withPlugin.archive.stats()
  await withPlugin.close()
  const recs = await records(dir)
  assert.equal(recs.length, 2, 'one record per request')
  const injectRecord = recs.find(r => headerOf(r.headers, 'x-via') === 'inject')
  const socketRecord = recs.find(r => headerOf(r.headers, 'x-via') === 'socket')
  assert.ok(injectRecord !== undefined && socketRecord !== undefined)
  for (const [r, ans] of [[injectRecord, inject], [socketRecord, socket]] as const) {
    assert.equal(r.method, c.method)
    assert.equal(r.uri, c.url)
    assert.equal(r.responseStatus, ans.status)
  }
  return { inject, socket, injectRecord, socketRecord, stats }
}

/** Both records hold exactly `body`, whole (the socket one checked first). */
function assertBody (res: Compared, body: Buffer): void {
  for (const r of [res.socketRecord, res.injectRecord]) {
    const via = headerOf(r.headers, 'x-via')
    bytesEqual(r.body, body, `recorded body (${via})`)
    assert.equal(r.bodyLength, body.length, `bodyLength (${via})`)
    assert.equal(r.bodyTruncated, false, `bodyTruncated (${via})`)
  }
}

test('JSON: recorded as sent, echoed as without the plugin', T, async t => {
  const doc = { a: 1, s: 'grüße €', nested: { list: [1, 'two', { three: null }] }, spaced: true }
  const body = Buffer.from(JSON.stringify(doc, null, 1))
  const res = await compare(t, { method: 'POST', url: '/json?x=1', headers: { 'content-type': 'application/json' }, body })
  assert.equal(res.inject.status, 200)
  assert.deepEqual(json(res.inject), doc)
  assertBody(res, body)
})

test('JSON with invalid UTF-8: the parser sees U+FFFD, the record keeps the original bytes', T, async t => {
  const body = Buffer.concat([Buffer.from('{"s":"a'), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('b","t":"\xe9"}', 'latin1')])
  const res = await compare(t, { method: 'POST', url: '/json', headers: { 'content-type': 'application/json' }, body })
  assert.equal(res.inject.status, 200)
  const echoed = json(res.inject) as { s: string, t: string }
  assert.ok(echoed.s.includes('\ufffd'), 'the app saw replacement characters')
  assertBody(res, body)
})

test('text/plain: recorded as sent', T, async t => {
  const body = Buffer.from('plain text\nwith lines\r\nand ünïcödé ✓\n')
  const res = await compare(t, { method: 'POST', url: '/text', headers: { 'content-type': 'text/plain; charset=utf-8' }, body })
  assert.equal(res.inject.status, 200)
  assert.equal(Buffer.from(res.inject.body, 'latin1').toString('utf8'), body.toString('utf8'))
  assertBody(res, body)
})

test('application/x-www-form-urlencoded with a custom parser: recorded as sent', T, async t => {
  const body = Buffer.from('a=1&b=two+words&c=%E2%82%AC&a=2&empty=')
  const res = await compare(t, { method: 'POST', url: '/form', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body })
  assert.equal(res.inject.status, 200)
  assert.deepEqual(json(res.inject), { a: ['1', '2'], b: ['two words'], c: ['€'], empty: [''] })
  assertBody(res, body)
})

test('multipart/form-data with @fastify/multipart: recorded as sent, parts read by the route', T, async t => {
  const boundary = '----fbhBoundary7MA4YWxkTrZu0gW'
  const file = noise(3000, 7)
  const body = Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="title"\r\n\r\nhello multipart\r\n`),
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`),
    file,
    Buffer.from(`\r\n--${boundary}\r\nContent-Disposition: form-data; name="note"; filename="n.txt"\r\nContent-Type: text/plain\r\n\r\nsecond file\r\n`),
    Buffer.from(`--${boundary}--\r\n`)
  ])
  const res = await compare(t, { method: 'POST', url: '/upload', headers: { 'content-type': `multipart/form-data; boundary=${boundary}` }, body })
  assert.equal(res.inject.status, 200)
  assert.deepEqual(json(res.inject), [
    { field: 'title', value: 'hello multipart' },
    { field: 'file', filename: 'a.bin', mimetype: 'application/octet-stream', length: 3000, sha256: sha256(file) },
    { field: 'note', filename: 'n.txt', mimetype: 'text/plain', length: 11, sha256: sha256('second file') }
  ])
  assertBody(res, body)
})

test('application/octet-stream with a buffer parser: recorded as sent (several socket chunks)', T, async t => {
  const body = noise(200_000, 3)
  const res = await compare(t, { method: 'POST', url: '/bytes', headers: { 'content-type': 'application/octet-stream' }, body })
  assert.equal(res.inject.status, 200)
  assert.deepEqual(json(res.inject), { length: body.length, sha256: sha256(body) })
  assertBody(res, body)
})

test('gzip-encoded body: stored compressed, as sent; the app decodes it as without the plugin', T, async t => {
  const doc = { zipped: true, text: 'squeeze me '.repeat(50) }
  const body = gzipSync(JSON.stringify(doc))
  const res = await compare(t, { method: 'POST', url: '/gz', headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' }, body })
  assert.equal(res.inject.status, 200)
  assert.deepEqual(json(res.inject), { decoded: doc })
  assertBody(res, body)
  assert.equal(headerOf(res.socketRecord.headers, 'content-encoding'), 'gzip')
})

test('empty bodies: text/plain with Content-Length 0, and no content-type at all', T, async t => {
  const text = await compare(t, { method: 'POST', url: '/text', headers: { 'content-type': 'text/plain', 'content-length': '0' }, body: Buffer.alloc(0) })
  assert.equal(text.inject.status, 200)
  assert.equal(text.inject.body, '')
  assertBody(text, Buffer.alloc(0))
  const none = await compare(t, { method: 'POST', url: '/any', headers: { 'content-length': '0' } })
  assert.equal(none.inject.status, 200)
  assert.deepEqual(json(none.inject), { body: null })
  bytesEqual(none.socketRecord.body, Buffer.alloc(0), 'no body (socket)')
  assert.equal(none.socketRecord.bodyTruncated, false)
  // Fastify never reads this body; the inject flag is checked in the "through inject" test.
  assert.equal(none.injectRecord.body.length, 0)
  assert.equal(none.injectRecord.bodyLength, 0)
})

test('GET and HEAD without a body are recorded, with an empty body', T, async t => {
  const get = await compare(t, { method: 'GET', url: '/hello?name=x' })
  assert.equal(get.inject.status, 200)
  assert.equal(get.inject.body, 'hello world')
  assert.equal(get.socketRecord.body.length, 0)
  assert.equal(get.socketRecord.bodyLength, 0)
  assert.equal(get.socketRecord.bodyTruncated, false)
  assert.equal(get.injectRecord.body.length, 0)
  const head = await compare(t, { method: 'HEAD', url: '/hello' })
  assert.equal(head.inject.status, 200)
  assert.equal(head.inject.body, '')
  assert.equal(head.inject.headers['x-app'], 'yes')
  assert.equal(head.socketRecord.body.length, 0)
  assert.equal(head.socketRecord.bodyTruncated, false)
})

test('through inject, a request whose body Fastify never reads (GET, HEAD, empty POST) is not flagged truncated', T, async t => {
  for (const c of [
    { method: 'GET', url: '/hello' },
    { method: 'HEAD', url: '/hello' },
    { method: 'POST', url: '/any', headers: { 'content-length': '0' } }
  ]) {
    const res = await compare(t, c)
    const r = res.injectRecord
    assert.equal(r.body.length, 0)
    assert.equal(r.bodyLength, 0)
    assert.equal(r.bodyTruncated, false, `${c.method} ${c.url} via inject: nothing is missing, yet the record is flagged truncated`)
    assert.equal(res.stats.capture.truncated, 0, 'stats.capture.truncated counts no bodyless request')
  }
})

test('413 from the app\'s bodyLimit: same answer, record with status 413', T, async t => {
  const body = Buffer.from('x'.repeat(5000))
  const res = await compare(t, { method: 'POST', url: '/text', headers: { 'content-type': 'text/plain' }, body }, { bodyLimit: 1000 })
  assert.equal(res.inject.status, 413)
  assert.equal(res.socket.status, 413)
  for (const r of [res.injectRecord, res.socketRecord]) {
    assert.equal(r.responseStatus, 413)
    // What was read is a prefix of what was sent; a body not read whole is flagged.
    assert.ok(body.subarray(0, r.body.length).equals(Buffer.from(r.body)), 'recorded bytes are what was sent')
    if (!r.bodyTruncated) bytesEqual(r.body, body, 'a body recorded as whole is whole')
  }
})

test('a handler that throws: 500 as without the plugin, recorded with responseStatus 500', T, async t => {
  const body = Buffer.from('{"will":"throw"}')
  const res = await compare(t, { method: 'POST', url: '/throw', headers: { 'content-type': 'application/json' }, body })
  assert.equal(res.inject.status, 500)
  assert.equal(json(res.inject).message, 'boom from the handler')
  assertBody(res, body)
  assert.equal(res.socketRecord.responseStatus, 500)
})

test('a 404 route: same answer, recorded with responseStatus 404', T, async t => {
  const body = Buffer.from('{"lost":true}')
  const res = await compare(t, { method: 'POST', url: '/nowhere?x=1', headers: { 'content-type': 'application/json' }, body })
  assert.equal(res.inject.status, 404)
  assert.equal(res.socketRecord.responseStatus, 404)
  bytesEqual(res.socketRecord.body, body, 'socket 404 body')
  assert.equal(res.socketRecord.bodyTruncated, false)
})

test('chunked upload over a real socket: de-chunked bytes recorded, Transfer-Encoding kept', T, async t => {
  const scope = new Scope(t)
  const dir = await scope.dir('chunked')
  const withPlugin = await scope.app(bodyRoutes, { dir })
  const bare = await scope.app(bodyRoutes, null)
  const [pw, pb] = [await listen(withPlugin), await listen(bare)]
  const pieces = [noise(1000, 1), noise(7, 2), noise(40_000, 3), noise(1, 4), noise(2500, 5)]
  const whole = Buffer.concat(pieces)

  // node:http: each write() becomes one chunk, with pauses between them.
  const spec = { method: 'POST', path: '/bytes', headers: { 'content-type': 'application/octet-stream', 'x-via': 'http' }, body: pieces, pauseMs: 25 }
  const a = await httpRequest(pw, spec)
  const b = await httpRequest(pb, spec)
  assert.equal(a.status, 200)
  assert.deepEqual(json(a), { length: whole.length, sha256: sha256(whole) })
  assert.deepEqual([a.status, a.headers, a.body], [b.status, b.headers, b.body])

  // Raw socket: the chunk framing itself split at awkward places, in several writes.
  const framed = Buffer.concat([
    Buffer.from('POST /bytes HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\nX-Via: raw\r\nConnection: close\r\n\r\n'),
    ...pieces.flatMap(p => [Buffer.from(p.length.toString(16) + ';ext=1\r\n'), p, Buffer.from('\r\n')]),
    Buffer.from('0\r\n\r\n')
  ])
  const cuts = [30, 150, 153, 1200, 1203, 20_000, 41_300, framed.length - 3, framed.length]
  const parts = cuts.map((end, i) => framed.subarray(i === 0 ? 0 : cuts[i - 1], end))
  const ra = parseResponse((await rawRequest(pw, parts, 20)).data)
  const rb = parseResponse((await rawRequest(pb, parts, 20)).data)
  assert.equal(ra.status, 200)
  assert.deepEqual(ra, rb)
  assert.deepEqual(json(ra), { length: whole.length, sha256: sha256(whole) })

  await withPlugin.close()
  const recs = await records(dir)
  assert.equal(recs.length, 2)
  for (const r of recs) {
    bytesEqual(r.body, whole, `de-chunked body (${headerOf(r.headers, 'x-via')})`)
    assert.equal(r.bodyTruncated, false)
    assert.equal(r.bodyLength, whole.length)
    assert.equal(headerOf(r.headers, 'transfer-encoding'), 'chunked')
    assert.equal(headerOf(r.headers, 'content-length'), undefined)
    assert.equal(r.responseStatus, 200)
  }
  assert.ok(recs.find(r => headerOf(r.headers, 'x-via') === 'raw')?.headers.includes('\r\nTransfer-Encoding: chunked\r\n'), 'original case kept')
})

test('header block keeps case, order and duplicates; ids, uri override, peer, version, times', T, async t => {
  const scope = new Scope(t)
  const dir = await scope.dir('headers')
  const app = await scope.app(bodyRoutes, { dir })
  const port = await listen(app)
  const head1 = 'Host: 127.0.0.1\r\nX-Dup: 1\r\nx-MiXeD: v\r\nX-Dup: 1\r\nX-Request-ID: raw-req-1\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nConnection: close\r\n\r\n'
  const head2 = 'host: 127.0.0.1\r\nX-Original-URI: /original/path?x=1\r\nConnection: close\r\n\r\n'
  const before = nowNs()
  const r1 = await rawRequest(port, 'POST /text?q=1 HTTP/1.1\r\n' + head1 + 'hello')
  const r2 = await rawRequest(port, 'GET /hello HTTP/1.1\r\n' + head2)
  const r3 = await httpRequest(port, { path: '/hello' })
  const r4 = await httpRequest(port, { path: '/hello' })
  const after = nowNs()
  assert.equal(parseResponse(r1.data).status, 200)
  assert.equal(parseResponse(r1.data).body, 'hello')
  assert.equal(parseResponse(r2.data).status, 200)
  await app.close()
  const recs = await records(dir)
  assert.equal(recs.length, 4)
  const [a, b, c, d] = recs

  assert.equal(a.headers, head1, 'exact header block: case, order, duplicates, final empty line')
  assert.ok(a.headers.endsWith('\r\n\r\n'))
  assert.deepEqual(headerLines(a.headers).filter(([n]) => n === 'X-Dup'), [['X-Dup', '1'], ['X-Dup', '1']])
  assert.equal(a.id, 'raw-req-1')
  assert.equal(a.method, 'POST')
  assert.equal(a.uri, '/text?q=1')
  assert.equal(Buffer.from(a.body).toString(), 'hello')
  assert.equal(b.headers, head2)
  assert.equal(b.uri, '/original/path?x=1', 'X-Original-URI overrides the uri')

  assert.notEqual(b.id, '')
  assert.notEqual(c.id, '')
  assert.equal(new Set([b.id, c.id, d.id]).size, 3, 'generated ids are unique')
  assert.notEqual(b.id, 'raw-req-1')

  for (const [r, localPort] of [[a, r1.localPort], [b, r2.localPort], [c, r3.localPort], [d, r4.localPort]] as const) {
    assert.equal(r.remoteAddr, '127.0.0.1')
    assert.equal(r.remotePort, localPort, 'remotePort is the client socket\'s local port')
    assert.equal(r.httpVersion, '1.1')
    assert.ok(r.timeNs >= before - 2_000_000n && r.timeNs <= after + 2_000_000n, `timeNs ${r.timeNs} within [${before}, ${after}]`)
    assert.equal(r.responseStatus, 200)
    assert.ok(r.responseTimeNs > 0n, 'responseTimeNs > 0')
  }
  assert.ok(a.timeNs <= b.timeNs && b.timeNs <= c.timeNs && c.timeNs <= d.timeNs, 'arrival times in order')
})

test('maxBodyBytes: the record is cut and flagged, the app still gets the whole body', T, async t => {
  const body = noise(5000, 11)
  const res = await compare(t, { method: 'POST', url: '/bytes', headers: { 'content-type': 'application/octet-stream' }, body }, {}, { maxBodyBytes: 1000 })
  assert.deepEqual(json(res.inject), { length: 5000, sha256: sha256(body) })
  assert.deepEqual(json(res.socket), { length: 5000, sha256: sha256(body) })
  for (const r of [res.injectRecord, res.socketRecord]) {
    bytesEqual(r.body, body.subarray(0, 1000), 'first maxBodyBytes bytes')
    assert.equal(r.bodyLength, 5000)
    assert.equal(r.bodyTruncated, true)
  }
  assert.equal(res.stats.capture.truncated, 2)
})

test('a client that aborts mid-body: no hang, app healthy, no record or a truncated one', T, async t => {
  const scope = new Scope(t)
  const dir = await scope.dir('abort')
  const app = await scope.app(bodyRoutes, { dir })
  const port = await listen(app)
  const sent = noise(1000, 21)
  const s = net.connect({ host: '127.0.0.1', port })
  s.on('error', () => {})
  await new Promise(resolve => s.once('connect', resolve))
  s.write('POST /bytes?abort=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\nContent-Length: 100000\r\n\r\n')
  s.write(sent)
  // Wait until the server has seen the request, then vanish.
  for (let i = 0; i < 200 && app.archive.stats().capture.seen === 0; i++) await sleep(10)
  await sleep(50)
  s.destroy()
  await sleep(50)
  const body = noise(300, 22)
  const ok = await httpRequest(port, { method: 'POST', path: '/bytes', headers: { 'content-type': 'application/octet-stream' }, body })
  assert.equal(ok.status, 200)
  assert.deepEqual(json(ok), { length: 300, sha256: sha256(body) })
  const stats = app.archive.stats()
  await app.close()
  const recs = await records(dir)
  const healthy = recs.filter(r => r.uri === '/bytes')
  assert.equal(healthy.length, 1)
  bytesEqual(healthy[0].body, body, 'the next request is recorded whole')
  const aborted = recs.filter(r => r.uri === '/bytes?abort=1')
  assert.ok(aborted.length <= 1)
  if (aborted.length === 1) {
    const r = aborted[0]
    assert.equal(r.bodyTruncated, true, 'an aborted body is flagged truncated')
    assert.ok(r.body.length <= sent.length)
    assert.ok(sent.subarray(0, r.body.length).equals(Buffer.from(r.body)), 'what was kept is what was sent')
    assert.ok(stats.capture.truncated >= 1)
  }
  assert.equal(stats.capture.errors, 0)
})

/**
 * The app answers 413 from its bodyLimit as soon as the headers arrive (Content-Length over the
 * limit); the client has sent 3000 bytes of 100000 and then goes away. Returns what is left.
 */
async function earlyAnswerThenAbort (t: TestContext): Promise<{ recs: ArchiveRecord[], stats: Compared['stats'] }> {
  const scope = new Scope(t)
  const dir = await scope.dir('abort-413')
  const app = await scope.app(bodyRoutes, { dir }, { bodyLimit: 1000 })
  const port = await listen(app)
  const s = net.connect({ host: '127.0.0.1', port })
  s.on('error', () => {})
  await new Promise(resolve => s.once('connect', resolve))
  const answer: Buffer[] = []
  s.on('data', (c: Buffer) => answer.push(c))
  s.write('POST /text?abort=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\nContent-Length: 100000\r\n\r\n')
  s.write(Buffer.alloc(3000, 'z'))
  for (let i = 0; i < 300 && !Buffer.concat(answer).includes('\r\n\r\n'); i++) await sleep(10)
  assert.equal(parseResponse(Buffer.concat(answer)).status, 413, 'answered before the body arrived')
  s.destroy()
  await sleep(50)
  const ok = await httpRequest(port, { method: 'POST', path: '/text', headers: { 'content-type': 'text/plain' }, body: Buffer.from('fine') })
  assert.equal(ok.status, 200)
  assert.equal(ok.body, 'fine')
  const stats = app.archive.stats()
  await app.close()
  const recs = await records(dir)
  assert.equal(recs.filter(r => r.uri === '/text').length, 1)
  for (const r of recs.filter(r => r.uri === '/text?abort=1')) {
    assert.equal(r.bodyTruncated, true)
    assert.equal(r.responseStatus, 413)
    assert.ok(Buffer.from(r.body).every(b => b === 0x7a))
  }
  return { recs, stats }
}

test('a client that aborts after an early 413: no hang, app healthy, no record or a truncated one', T, async t => {
  await earlyAnswerThenAbort(t)
})

test('a client that aborts after an early 413: the answered request is still recorded (status 413, truncated)', T, async t => {
  const { recs, stats } = await earlyAnswerThenAbort(t)
  const r = recs.find(r => r.uri === '/text?abort=1')
  assert.ok(r !== undefined, `no record for a request the app answered 413 (capture stats: ${JSON.stringify(stats.capture)})`)
  assert.equal(r.responseStatus, 413)
  assert.equal(r.bodyTruncated, true)
})

test('pipelined requests on one connection (one write): each recorded whole, bodies not mixed', T, async t => {
  const scope = new Scope(t)
  const dir = await scope.dir('pipeline')
  const app = await scope.app(bodyRoutes, { dir })
  const port = await listen(app)
  const b1 = Buffer.from('{"first":1}')
  const b2 = noise(5000, 41)
  const wire = Buffer.concat([
    Buffer.from(`POST /json HTTP/1.1\r\nHost: h\r\nX-Request-ID: p1\r\nContent-Type: application/json\r\nContent-Length: ${b1.length}\r\n\r\n`), b1,
    Buffer.from(`POST /bytes HTTP/1.1\r\nHost: h\r\nX-Request-ID: p2\r\nContent-Type: application/octet-stream\r\nContent-Length: ${b2.length}\r\n\r\n`), b2,
    Buffer.from('GET /hello HTTP/1.1\r\nHost: h\r\nX-Request-ID: p3\r\nConnection: close\r\n\r\n')
  ])
  const { data } = await rawRequest(port, wire)
  assert.equal(data.toString('latin1').match(/HTTP\/1\.1 200 OK/g)?.length, 3)
  await app.close()
  const recs = await records(dir)
  const byId = new Map(recs.map(r => [r.id, r]))
  assert.deepEqual([...byId.keys()].sort(), ['p1', 'p2', 'p3'])
  bytesEqual(byId.get('p1')?.body ?? new Uint8Array(0), b1, 'first body')
  bytesEqual(byId.get('p2')?.body ?? new Uint8Array(0), b2, 'second body')
  assert.equal(byId.get('p3')?.body.length, 0)
  for (const r of recs) {
    assert.equal(r.bodyTruncated, false)
    assert.equal(r.responseStatus, 200)
  }
})

test('an async onRequest hook registered before the plugin does not lose body bytes', T, async t => {
  const scope = new Scope(t)
  const dir = await scope.dir('async-hook')
  const app = scope.fastify()
  // Resolves after the whole request (header and body in one write) has been parsed.
  app.addHook('onRequest', async () => { await new Promise(resolve => setImmediate(resolve)) })
  await app.register(blackhole, { dir })
  await bodyRoutes(app)
  const port = await listen(app)

  const doc = Buffer.from(JSON.stringify({ early: 'bytes', list: Array.from({ length: 200 }, (_, i) => i) }))
  const big = noise(300_000, 31)
  const r1 = await rawRequest(port, Buffer.concat([
    Buffer.from(`POST /json HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${doc.length}\r\nConnection: close\r\n\r\n`), doc]))
  const r2 = await rawRequest(port, Buffer.concat([
    Buffer.from(`POST /bytes HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\nContent-Length: ${big.length}\r\nConnection: close\r\n\r\n`), big]))
  const a1 = parseResponse(r1.data)
  const a2 = parseResponse(r2.data)
  assert.equal(a1.status, 200)
  assert.deepEqual(json(a1), JSON.parse(doc.toString()))
  assert.equal(a2.status, 200)
  assert.deepEqual(json(a2), { length: big.length, sha256: sha256(big) })
  await app.close()
  const recs = await records(dir)
  assert.equal(recs.length, 2)
  bytesEqual(recs[0].body, doc, 'small body (all buffered before capture)')
  assert.equal(recs[0].bodyTruncated, false)
  bytesEqual(recs[1].body, big, 'big body (partly buffered, partly teed)')
  assert.equal(recs[1].bodyTruncated, false)
  assert.equal(recs[1].bodyLength, big.length)
})

test('keep-alive: one close listener per connection however many requests it carries, each recorded', T, async t => {
  const scope = new Scope(t)
  const dir = await scope.dir('keepalive')
  const app = scope.fastify()
  await app.register(blackhole, { dir })
  app.post('/count', async (request) => ({ close: request.raw.socket.listenerCount('close') }))
  const port = await listen(app)
  const { Client } = await import('undici')
  const client = new Client(`http://127.0.0.1:${port}`, { pipelining: 1 })
  t.after(() => client.destroyed ? undefined : client.destroy())
  const counts: number[] = []
  for (let i = 0; i < 40; i++) {
    const res = await client.request({ method: 'POST', path: '/count', headers: { 'content-type': 'application/json', 'x-request-id': `k${i}` }, body: JSON.stringify({ i }) })
    counts.push((await res.body.json() as { close: number }).close)
  }
  // The same count for the 1st and the 40th request: nothing piles up on the socket.
  assert.equal(new Set(counts).size, 1, `close listeners per request: ${counts.join(',')}`)
  await client.close()
  await app.close()
  const recs = await records(dir)
  assert.deepEqual(recs.map(r => r.id), Array.from({ length: 40 }, (_, i) => `k${i}`))
  recs.forEach((r, i) => assert.equal(Buffer.from(r.body).toString(), JSON.stringify({ i })))
})

test('maxCaptureBytes: bodies in flight beyond the budget are stored truncated, and the budget comes back', T, async t => {
  const scope = new Scope(t)
  const dir = await scope.dir('budget')
  const app = scope.fastify()
  await app.register(blackhole, { dir, maxCaptureBytes: 8192 })
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (_req, body, done) => done(null, body))
  app.post('/b', async () => 'ok')
  await app.ready()
  const big = noise(20_000, 7)
  const small = noise(5000, 8)
  for (const [id, body] of [['big', big], ['small', small]] as const) {
    const res = await app.inject({ method: 'POST', url: '/b', headers: { 'content-type': 'application/octet-stream', 'x-request-id': id }, payload: body })
    assert.equal(res.statusCode, 200)
  }
  const s = app.archive.stats().capture
  assert.equal(s.overBudget, 1)
  assert.equal(s.truncated, 1)
  await app.close()
  const byId = new Map((await records(dir)).map(r => [r.id, r]))
  const b = byId.get('big')
  assert.equal(b?.bodyTruncated, true)
  assert.equal(b?.bodyLength, 20_000)
  bytesEqual(b?.body ?? new Uint8Array(0), big.subarray(0, 8192), 'the first 8192 bytes')
  bytesEqual(byId.get('small')?.body ?? new Uint8Array(0), small, 'the next body is whole')
  assert.equal(byId.get('small')?.bodyTruncated, false)
})

test('recordResponse: false records at the end of the body, over sockets and inject; a cut body counts as aborted', T, async t => {
  const scope = new Scope(t)
  const dir = await scope.dir('no-response')
  const app = await scope.app(async a => {
    await bodyRoutes(a)
    a.get('/get', async () => 'ok')
  }, { dir, recordResponse: false })
  const port = await listen(app)
  const body = noise(5000, 31)
  assert.equal((await httpRequest(port, { method: 'GET', path: '/get' })).status, 200)
  assert.equal((await httpRequest(port, { method: 'POST', path: '/bytes', headers: { 'content-type': 'application/octet-stream' }, body })).status, 200)
  // Chunked over a socket, and streamed by inject without a length: the whole body either way.
  const chunked = await rawRequest(port, ['POST /bytes?chunked=1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n',
    '5\r\nhello\r\n', '6\r\n world\r\n0\r\n\r\n'], 20)
  assert.equal(parseResponse(chunked.data).status, 200)
  const streamed = await app.inject({ method: 'POST', url: '/bytes?inject=1', headers: { 'content-type': 'application/octet-stream' }, payload: Readable.from([body.subarray(0, 100), body.subarray(100)]) })
  assert.equal(streamed.statusCode, 200)
  assert.equal((await app.inject({ method: 'GET', url: '/get?inject=1' })).statusCode, 200)
  // Half a body, then the client is gone.
  const s = net.connect({ host: '127.0.0.1', port })
  s.on('error', () => {})
  await new Promise(resolve => s.once('connect', resolve))
  s.write('POST /bytes?abort=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\nContent-Length: 100000\r\n\r\n')
  s.write(body.subarray(0, 1000))
  for (let i = 0; i < 200 && app.archive.stats().capture.seen < 6; i++) await sleep(10)
  await sleep(50)
  s.destroy()
  for (let i = 0; i < 200 && app.archive.stats().capture.recorded < 6; i++) await sleep(10)
  const stats = app.archive.stats()
  await app.close()
  const recs = await records(dir)
  const byUri = new Map(recs.map(r => [r.uri, r]))
  assert.equal(recs.length, 6, recs.map(r => r.uri).join(' '))
  for (const uri of ['/get', '/get?inject=1']) assert.equal(byUri.get(uri)?.body.length, 0)
  bytesEqual(byUri.get('/bytes')!.body, body, 'socket body')
  bytesEqual(byUri.get('/bytes?inject=1')!.body, body, 'inject body')
  assert.equal(Buffer.from(byUri.get('/bytes?chunked=1')!.body).toString(), 'hello world')
  const cut = byUri.get('/bytes?abort=1')!
  assert.equal(cut.bodyTruncated, true)
  assert.equal(cut.body.length, 1000)
  for (const r of recs) assert.equal(r.responseStatus, 0, 'no response stored')
  assert.equal(stats.capture.aborted, 1)
  assert.equal(stats.capture.truncated, 1)
  assert.equal(stats.capture.errors, 0)
})
