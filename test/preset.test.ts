// The preset sink (preset/app.ts, preset/server/server.ts) in process: Fastify + inject, and real
// sockets. Every request is answered (200 or the fixed response) and recorded; admin routes
// are answered and never recorded; options are checked at registration.
import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { stat } from 'node:fs/promises'
import http from 'node:http'
import { Readable } from 'node:stream'
import type { TestContext } from 'node:test'
import Fastify, { type FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { readFileRecords, type ArchiveRecord } from '../lib/archive/reader.js'
import blackholePreset, { type PresetOptions } from '../preset/app.js'
import { buildServer, type ServeOptions } from '../preset/server/server.js'
import { headerLines, isTmp, listDir, noise, readRecords, request, rmDir, tmpDir } from './fixtures-preset.js'

/** Records are only complete on disk once the app is closed (or rotated). */
interface Sink {
  app: FastifyInstance
  dir: string
  /** Closes the app (idempotent) and returns every record written. */
  records: () => Promise<ArchiveRecord[]>
}

// fp() marks the function it is given (skip-override), so wrap a new function, never the
// preset itself: every other test must see the preset exactly as exported.
const exposedPreset = fp(async function exposedPreset (instance: FastifyInstance, opts: PresetOptions) {
  await blackholePreset(instance, opts)
})

/**
 * The preset registered on a fresh Fastify instance, ready. The preset is an encapsulated
 * plugin, so its decorators (`archive`, `sink`) live in its own context; `expose` wraps it with
 * fastify-plugin so a test can reach them on the root instance.
 */
async function sink (t: TestContext, opts: PresetOptions = {}, expose = false): Promise<Sink> {
  const dir = await tmpDir('preset')
  const app = Fastify() as unknown as FastifyInstance
  let closed = false
  const close = async (): Promise<void> => {
    if (closed) return
    closed = true
    await app.close()
  }
  t.after(async () => {
    await close().catch(() => {})
    await rmDir(dir)
  })
  await app.register(expose ? exposedPreset : blackholePreset, { out: dir, statsIntervalMs: 0, ...opts })
  await app.ready()
  return {
    app,
    dir,
    records: async () => {
      await close()
      return readRecords(dir)
    }
  }
}

function header (r: ArchiveRecord, name: string): string | undefined {
  const found = headerLines(r.headers).filter(([n]) => n.toLowerCase() === name.toLowerCase())
  return found.length === 0 ? undefined : found.map(([, v]) => v).join(', ')
}

function byUri (records: ArchiveRecord[], uri: string): ArchiveRecord {
  const found = records.filter(r => r.uri === uri)
  assert.equal(found.length, 1, `expected exactly one record for ${uri}, got ${found.length} (uris: ${records.map(r => r.uri).join(' ')})`)
  return found[0]
}

const SINK_METHODS = http.METHODS.filter(m => m !== 'CONNECT')

describe('preset: every method, path and content type is answered 200 and recorded', () => {
  test('every method of http.METHODS except CONNECT, through inject', async t => {
    const s = await sink(t)
    for (const m of SINK_METHODS) {
      const withBody = m === 'QUERY' || m === 'POST' || m === 'PROPFIND'
      const res = await s.app.inject({
        method: m as 'GET',
        url: `/method/${m}?q=${m.toLowerCase()}`,
        ...(withBody ? { headers: { 'content-type': 'application/json' }, payload: `{"method":"${m}"}` } : {})
      })
      assert.equal(res.statusCode, 200, `${m}: status ${res.statusCode} ${res.body}`)
      assert.equal(res.body, '', `${m}: body`)
    }
    const records = await s.records()
    assert.equal(records.length, SINK_METHODS.length)
    for (const m of SINK_METHODS) {
      const r = byUri(records, `/method/${m}?q=${m.toLowerCase()}`)
      assert.equal(r.method, m)
      if (m === 'QUERY') {
        assert.equal(Buffer.from(r.body).toString(), '{"method":"QUERY"}')
        assert.equal(header(r, 'content-type'), 'application/json')
      }
    }
  })

  test('every method over a real socket (HEAD and TRACE included), with a body where allowed', async t => {
    const s = await sink(t)
    await s.app.listen({ port: 0, host: '127.0.0.1' })
    const port = (s.app.server.address() as { port: number }).port
    for (const m of SINK_METHODS) {
      // Node's client refuses nothing here, but TRACE and HEAD bodies are not meaningful.
      const body = m === 'HEAD' || m === 'TRACE' || m === 'GET' ? undefined : `body of ${m}`
      const res = await request(port, { method: m, path: `/real/${m}`, headers: body === undefined ? {} : { 'content-type': 'text/plain' }, body })
      assert.equal(res.status, 200, `${m}: ${res.status} ${res.body.toString()}`)
      assert.equal(res.body.length, 0, `${m}: empty body`)
    }
    const records = await s.records()
    assert.equal(records.length, SINK_METHODS.length)
    for (const m of SINK_METHODS) {
      const r = byUri(records, `/real/${m}`)
      assert.equal(r.method, m)
      const body = m === 'HEAD' || m === 'TRACE' || m === 'GET' ? '' : `body of ${m}`
      assert.equal(Buffer.from(r.body).toString(), body, `${m}: recorded body`)
    }
  })

  test('any path and query (real socket) is answered and recorded with its uri unchanged', async t => {
    const s = await sink(t)
    await s.app.listen({ port: 0, host: '127.0.0.1' })
    const port = (s.app.server.address() as { port: number }).port
    const uris = [
      '/',
      '/?',
      '/a/b/c/',
      '//double//slash',
      '/x%20y/%E2%82%AC?q=%C3%A9&q=2&flag',
      '/' + 'deep/'.repeat(200),
      '/search?' + Array.from({ length: 100 }, (_, i) => `k${i}=v${i}`).join('&'),
      '/a;matrix=1/b?x=[1]',
      '/_blackholeish',
      '/_BLACKHOLE/stats'
    ]
    for (const u of uris) {
      const res = await request(port, { method: 'GET', path: u })
      assert.equal(res.status, 200, `${u}: ${res.status}`)
      assert.equal(res.body.length, 0)
    }
    const records = await s.records()
    assert.deepEqual(records.map(r => r.uri).sort(), [...uris].sort())
  })

  test('every content type, invalid ones and none: 200, body recorded as sent, Content-Type kept', async t => {
    const s = await sink(t)
    const binary = noise(3000, 7)
    const cases: Array<{ name: string, ct?: string, body: Buffer }> = [
      { name: 'json', ct: 'application/json', body: Buffer.from('{"a":1}') },
      { name: 'json-broken', ct: 'application/json', body: Buffer.from('{"a": 1,,, oops') },
      { name: 'json-charset', ct: 'application/json; charset=utf-8', body: Buffer.from('[1,2') },
      { name: 'text', ct: 'text/plain; charset=latin1', body: Buffer.from('caf\u00e9', 'latin1') },
      { name: 'form', ct: 'application/x-www-form-urlencoded', body: Buffer.from('a=1&b=%ZZ') },
      { name: 'multipart', ct: 'multipart/form-data; boundary=XyZ', body: Buffer.from('--XyZ\r\nnot really multipart') },
      { name: 'xml', ct: 'application/xml', body: Buffer.from('<a><b></a>') },
      { name: 'bogus', ct: 'bogus', body: Buffer.from('bogus body') },
      { name: 'abc', ct: 'a/b/c', body: Buffer.from('three parts') },
      { name: 'empty-ct', ct: '', body: Buffer.from('empty content type') },
      { name: 'spaces', ct: 'text / plain', body: Buffer.from('spaces in type') },
      { name: 'vendor', ct: 'application/vnd.example+json;version=2', body: Buffer.from('{}') },
      { name: 'none', body: Buffer.from('no content type at all') },
      { name: 'binary', ct: 'application/octet-stream', body: binary },
      { name: 'binary-as-json', ct: 'application/json', body: binary },
      { name: 'image', ct: 'image/png', body: binary.subarray(0, 100) }
    ]
    for (const c of cases) {
      const res = await s.app.inject({
        method: 'POST',
        url: `/ct/${c.name}`,
        headers: c.ct === undefined ? {} : { 'content-type': c.ct },
        payload: c.body
      })
      assert.equal(res.statusCode, 200, `${c.name}: ${res.statusCode} ${res.body}`)
      assert.equal(res.body, '', c.name)
    }
    const records = await s.records()
    assert.equal(records.length, cases.length)
    for (const c of cases) {
      const r = byUri(records, `/ct/${c.name}`)
      assert.ok(Buffer.from(r.body).equals(c.body), `${c.name}: recorded body differs`)
      assert.equal(r.bodyTruncated, false, c.name)
      // The record keeps the Content-Type as sent, even where the sink treats it as octet-stream.
      assert.equal(header(r, 'content-type'), c.ct, `${c.name}: Content-Type in the record`)
    }
  })

  test('a streamed body without Content-Length (inject) is answered and recorded whole', async t => {
    const s = await sink(t)
    const parts = [noise(1000, 1), noise(2000, 2), noise(10, 3)]
    const res = await s.app.inject({ method: 'PUT', url: '/stream', headers: { 'content-type': 'application/octet-stream' }, payload: Readable.from(parts) })
    assert.equal(res.statusCode, 200)
    const [r] = await s.records()
    assert.ok(Buffer.from(r.body).equals(Buffer.concat(parts)))
  })
})

describe('preset: body limit', () => {
  test('over bodyLimit by Content-Length and by a chunked body: 413, counted in sink.tooLarge; at the limit: 200', async t => {
    const s = await sink(t, { bodyLimit: 1024 })
    const atLimit = await s.app.inject({ method: 'POST', url: '/at-limit', headers: { 'content-type': 'text/plain' }, payload: Buffer.alloc(1024, 0x61) })
    assert.equal(atLimit.statusCode, 200)

    const byLength = await s.app.inject({ method: 'POST', url: '/by-length', headers: { 'content-type': 'text/plain' }, payload: Buffer.alloc(1025, 0x61) })
    assert.equal(byLength.statusCode, 413, byLength.body)
    let stats = (await s.app.inject({ method: 'GET', url: '/_blackhole/stats' })).json()
    assert.equal(stats.sink.tooLarge, 1)

    // Inject: a stream has no Content-Length.
    const streamed = await s.app.inject({ method: 'POST', url: '/streamed', headers: { 'content-type': 'text/plain' }, payload: Readable.from([Buffer.alloc(600), Buffer.alloc(600)]) })
    assert.equal(streamed.statusCode, 413, streamed.body)
    stats = (await s.app.inject({ method: 'GET', url: '/_blackhole/stats' })).json()
    assert.equal(stats.sink.tooLarge, 2)

    // A real socket, Transfer-Encoding: chunked.
    await s.app.listen({ port: 0, host: '127.0.0.1' })
    const port = (s.app.server.address() as { port: number }).port
    const chunked = await request(port, { method: 'POST', path: '/chunked', headers: { 'content-type': 'text/plain' }, body: [Buffer.alloc(700, 0x62), Buffer.alloc(700, 0x62)] })
    assert.equal(chunked.status, 413)
    const viaSocket = await request(port, { method: 'POST', path: '/length-socket', headers: { 'content-type': 'bogus' }, body: Buffer.alloc(5000) })
    assert.equal(viaSocket.status, 413)
    stats = (await s.app.inject({ method: 'GET', url: '/_blackhole/stats' })).json()
    assert.equal(stats.sink.tooLarge, 4)
    // Still a working sink afterwards.
    const after = await request(port, { method: 'POST', path: '/after', body: 'small' })
    assert.equal(after.status, 200)
    const records = await s.records()
    assert.ok(Buffer.from(byUri(records, '/at-limit').body).equals(Buffer.alloc(1024, 0x61)))
    assert.equal(Buffer.from(byUri(records, '/after').body).toString(), 'small')
  })
})

describe('preset: fixed response', () => {
  test('status 201, a header and a body are what every client gets (inject and socket)', async t => {
    const s = await sink(t, { response: { status: 201, headers: { 'x-sink': 'yes' }, body: 'accepted\n' } })
    for (const m of ['GET', 'POST', 'PROPFIND', 'DELETE']) {
      const res = await s.app.inject({ method: m as 'GET', url: `/fixed/${m}`, ...(m === 'POST' ? { payload: 'x' } : {}) })
      assert.equal(res.statusCode, 201, m)
      assert.equal(res.headers['x-sink'], 'yes', m)
      assert.equal(res.body, 'accepted\n', m)
    }
    await s.app.listen({ port: 0, host: '127.0.0.1' })
    const port = (s.app.server.address() as { port: number }).port
    const res = await request(port, { method: 'PUT', path: '/fixed/socket', headers: { 'content-type': 'a/b/c' }, body: 'payload' })
    assert.equal(res.status, 201)
    assert.equal(res.headers['x-sink'], 'yes')
    assert.equal(res.body.toString(), 'accepted\n')
    const records = await s.records()
    assert.equal(records.length, 5)
    assert.equal(Buffer.from(byUri(records, '/fixed/socket').body).toString(), 'payload')
  })

  test('buildServer (the standalone server) passes the fixed response through', async t => {
    const dir = await tmpDir('preset-build')
    const o: ServeOptions = {
      port: 0,
      host: '127.0.0.1',
      workers: 1,
      http2: false,
      logLevel: 'silent',
      graceMs: 1000,
      preset: { out: dir, statsIntervalMs: 0, response: { status: 202, headers: { 'X-Reply': 'fixed' }, body: '{"ok":true}' } }
    }
    const app = await buildServer(o)
    t.after(async () => {
      await app.close().catch(() => {})
      await rmDir(dir)
    })
    await app.listen({ port: 0, host: '127.0.0.1' })
    const port = (app.server.address() as { port: number }).port
    const res = await request(port, { method: 'POST', path: '/built', body: 'b' })
    assert.equal(res.status, 202)
    assert.equal(res.headers['x-reply'], 'fixed')
    assert.equal(res.body.toString(), '{"ok":true}')
    await app.close()
    const records = await readRecords(dir)
    assert.deepEqual(records.map(r => [r.method, r.uri, Buffer.from(r.body).toString()]), [['POST', '/built', 'b']])
  })

  test('no per-response listener from Fastify at any log level; a failing request is still logged at error level', async t => {
    // With a logger of its own Fastify listens for every response's finish, even with request
    // logging off: the server's pino logger is app.log instead (silent: no logger at all).
    for (const logLevel of ['silent', 'warn', 'debug'] as const) {
      const app = await buildServer({ port: 0, host: '127.0.0.1', workers: 1, http2: false, logLevel, graceMs: 1000, preset: { record: false, statsIntervalMs: 0 } })
      t.after(async () => { await app.close().catch(() => {}) })
      const finishListeners: number[] = []
      app.addHook('onRequest', (_request, reply, done) => {
        finishListeners.push(reply.raw.listenerCount('finish'))
        done()
      })
      app.get('/fails', async () => { throw new Error('handler failed') })
      const logged: unknown[][] = []
      if (logLevel !== 'silent') {
        assert.equal(app.log.level, logLevel)
        app.log.error = (...args: unknown[]) => { logged.push(args) }
      }
      await app.listen({ port: 0, host: '127.0.0.1' })
      const port = (app.server.address() as { port: number }).port
      const res = await request(port, { method: 'POST', path: '/quiet', body: 'b' })
      assert.equal(res.status, 200)
      assert.equal((await request(port, { path: '/fails' })).status, 500)
      // Node's own finish listener only.
      assert.deepEqual(finishListeners, [1, 1], `--log-level ${logLevel}`)
      if (logLevel !== 'silent') {
        assert.equal(logged.length, 1, `--log-level ${logLevel}`)
        assert.equal(logged[0][1], 'handler failed')
        assert.equal(((logged[0][0] as { err: Error }).err).message, 'handler failed')
      }
      await app.close()
    }
  })
})

describe('preset: admin routes', () => {
  test('GET /_blackhole/stats answers JSON with sink, capture and archive, and is not recorded', async t => {
    const s = await sink(t)
    for (let i = 0; i < 3; i++) await s.app.inject({ method: 'POST', url: `/s/${i}`, payload: 'abcd' })
    const res = await s.app.inject({ method: 'GET', url: '/_blackhole/stats' })
    assert.equal(res.statusCode, 200)
    assert.match(String(res.headers['content-type']), /^application\/json/)
    const body = res.json()
    assert.equal(body.recording, true)
    assert.equal(body.pid, process.pid)
    assert.equal(body.sink.requests, 3)
    assert.equal(body.sink.bodyBytes, 12)
    assert.equal(body.sink.tooLarge, 0)
    assert.equal(typeof body.capture, 'object')
    assert.equal(body.capture.recorded, 3)
    assert.equal(typeof body.archive, 'object')
    assert.equal(typeof body.archive.recordsWritten, 'number')
    const again = await s.app.inject({ method: 'GET', url: '/_blackhole/stats?x=1' })
    assert.equal(again.statusCode, 200)
    const records = await s.records()
    assert.deepEqual(records.map(r => r.uri).sort(), ['/s/0', '/s/1', '/s/2'])
  })

  test('any other path under /_blackhole/ is a 404 for every method and is not recorded', async t => {
    const s = await sink(t)
    const cases: Array<[string, string]> = [
      ['GET', '/_blackhole/anything'],
      ['POST', '/_blackhole/anything'],
      ['PUT', '/_blackhole/stats/extra'],
      ['POST', '/_blackhole/stats'],
      ['PROPFIND', '/_blackhole/x'],
      ['DELETE', '/_blackhole/archives'],
      ['GET', '/_blackhole/'],
      ['GET', '/_blackhole/a/b/c?q=1']
    ]
    for (const [m, u] of cases) {
      const res = await s.app.inject({ method: m as 'GET', url: u, ...(m === 'POST' || m === 'PUT' ? { payload: 'x' } : {}) })
      assert.equal(res.statusCode, 404, `${m} ${u}: ${res.statusCode}`)
    }
    await s.app.inject({ method: 'GET', url: '/sink-path' })
    const records = await s.records()
    assert.deepEqual(records.map(r => r.uri), ['/sink-path'])
  })

  test('a path answered by the sink with status 200 is recorded, also next to the admin prefix (/_blackhole, /_blackhole?x)', async t => {
    // Either the reserved prefix itself is an admin path (404, not recorded) or it is a sink
    // path (200, recorded); a 200 that is not recorded breaks "every answered request is recorded".
    const s = await sink(t)
    const uris = ['/_blackhole', '/_blackhole?x=1']
    const statuses = new Map<string, number>()
    for (const u of uris) statuses.set(u, (await s.app.inject({ method: 'GET', url: u })).statusCode)
    const recorded = new Set((await s.records()).map(r => r.uri))
    for (const u of uris) {
      const st = statuses.get(u)
      if (st === 200) assert.ok(recorded.has(u), `${u} was answered 200 by the sink but not recorded`)
      else assert.ok(!recorded.has(u), `${u} was answered ${String(st)} but recorded`)
    }
  })

  test('GET /_blackhole/archives lists the sealed files with their size and record count', async t => {
    const s = await sink(t, {}, true)
    const empty = await s.app.inject({ method: 'GET', url: '/_blackhole/archives' })
    assert.equal(empty.statusCode, 200)
    assert.deepEqual(empty.json().files, [])
    for (let i = 0; i < 5; i++) await s.app.inject({ method: 'POST', url: `/first/${i}`, payload: noise(200, i) })
    await s.app.archive.rotate()
    for (let i = 0; i < 3; i++) await s.app.inject({ method: 'PUT', url: `/second/${i}`, payload: 'y' })
    await s.app.archive.rotate()
    const res = await s.app.inject({ method: 'GET', url: '/_blackhole/archives' })
    assert.equal(res.statusCode, 200)
    const list = res.json() as { dir: string, files: Array<{ name: string, bytes: number, records: number, modified: string }> }
    assert.equal(list.files.length, 2)
    const onDisk = (await listDir(s.dir)).filter(n => !isTmp(n))
    assert.deepEqual(list.files.map(f => f.name).sort(), onDisk)
    const counts: number[] = []
    for (const f of list.files) {
      const full = `${s.dir}/${f.name}`
      assert.equal(f.bytes, (await stat(full)).size, `${f.name}: bytes`)
      let n = 0
      // eslint-disable-next-line @typescript-eslint/no-unused-vars
      for await (const _ of readFileRecords(full)) n++
      assert.equal(f.records, n, `${f.name}: records`)
      assert.ok(!Number.isNaN(Date.parse(f.modified)))
      counts.push(f.records)
    }
    assert.deepEqual([...counts].sort(), [3, 5])
    // The listing itself was not recorded.
    const records = await s.records()
    assert.equal(records.length, 8)
    assert.ok(records.every(r => !r.uri.startsWith('/_blackhole')))
  })

  test('GET /_blackhole/archives lists files oldest first, also when several are sealed within one second', async t => {
    // listSealed() and the route promise "oldest first"; names are <stamp to the second>_<pid>-<random hex>.
    const s = await sink(t, {}, true)
    const expected: number[] = []
    for (let f = 1; f <= 6; f++) {
      for (let i = 0; i < f; i++) await s.app.inject({ method: 'POST', url: `/f${f}/${i}`, payload: 'x' })
      await s.app.archive.rotate()
      expected.push(f)
    }
    const list = (await s.app.inject({ method: 'GET', url: '/_blackhole/archives' })).json() as { files: Array<{ name: string, records: number }> }
    assert.deepEqual(list.files.map(f => f.records), expected, `files in listed order: ${list.files.map(f => `${f.name}=${f.records}`).join(' ')}`)
  })

  test('admin: false makes /_blackhole/* sink paths: answered 200 and recorded', async t => {
    const s = await sink(t, { admin: false })
    for (const u of ['/_blackhole/stats', '/_blackhole/archives', '/_blackhole/other']) {
      const res = await s.app.inject({ method: 'GET', url: u })
      assert.equal(res.statusCode, 200, u)
      assert.equal(res.body, '', u)
    }
    const post = await s.app.inject({ method: 'POST', url: '/_blackhole/stats', payload: 'in the sink' })
    assert.equal(post.statusCode, 200)
    const records = await s.records()
    assert.deepEqual(records.map(r => `${r.method} ${r.uri}`).sort(), ['GET /_blackhole/archives', 'GET /_blackhole/other', 'GET /_blackhole/stats', 'POST /_blackhole/stats'])
  })

  test('admin: "false" (a string, as fastify-cli passes it) is read as false', async t => {
    const s = await sink(t, { admin: 'false' })
    assert.equal((await s.app.inject({ method: 'GET', url: '/_blackhole/stats' })).body, '')
    assert.equal((await s.records()).length, 1)
  })
})

describe('preset: record, redaction and option errors', () => {
  test('record: false registers no archive and writes no files; still answers 200', async t => {
    const s = await sink(t, { record: false }, true)
    assert.equal(s.app.hasDecorator('sink'), true)
    assert.equal(s.app.hasDecorator('archive'), false)
    for (let i = 0; i < 5; i++) {
      const res = await s.app.inject({ method: 'POST', url: `/nr/${i}`, payload: 'data' })
      assert.equal(res.statusCode, 200)
    }
    const stats = (await s.app.inject({ method: 'GET', url: '/_blackhole/stats' })).json()
    assert.equal(stats.recording, false)
    assert.equal(stats.sink.requests, 5)
    assert.equal(stats.archive, undefined)
    assert.equal((await s.app.inject({ method: 'GET', url: '/_blackhole/archives' })).statusCode, 404)
    await s.records()
    assert.deepEqual(await listDir(s.dir), [])
  })

  test('record: "false" (string) also disables recording', async t => {
    const s = await sink(t, { record: 'false' }, true)
    assert.equal(s.app.hasDecorator('sink'), true)
    assert.equal(s.app.hasDecorator('archive'), false)
    await s.app.inject({ method: 'POST', url: '/x', payload: 'y' })
    await s.records()
    assert.deepEqual(await listDir(s.dir), [])
  })

  test('recording: the archive decorator is visible on the instance the preset is registered on', async t => {
    // server.ts (lastChance: `if (app.hasDecorator('archive')) app.archive.writer.flushSync()`)
    // relies on this for the root instance built by buildServer.
    const s = await sink(t, { record: true })
    assert.equal(s.app.hasDecorator('archive'), true, 'app.hasDecorator("archive") is false on the root instance: the preset is encapsulated')
  })

  test('without redactHeaders every header is recorded verbatim; redactHeaders replaces only the named values', async t => {
    const plain = await sink(t)
    await plain.app.inject({ method: 'GET', url: '/plain', headers: { authorization: 'Bearer s3cret', cookie: 'a=b', 'x-api-key': 'k' } })
    const [p] = await plain.records()
    assert.equal(header(p, 'authorization'), 'Bearer s3cret')
    assert.equal(header(p, 'cookie'), 'a=b')
    assert.equal(header(p, 'x-api-key'), 'k')

    const red = await sink(t, { redactHeaders: ['Authorization', 'x-secret'] })
    await red.app.inject({ method: 'POST', url: '/red', headers: { authorization: 'Bearer s3cret', 'x-secret': 'hush', 'x-other': 'visible' }, payload: 'body' })
    const [r] = await red.records()
    assert.equal(header(r, 'authorization'), '[REDACTED]')
    assert.equal(header(r, 'x-secret'), '[REDACTED]')
    assert.equal(header(r, 'x-other'), 'visible')
    assert.ok(!r.headers.includes('s3cret') && !r.headers.includes('hush'))
    assert.equal(Buffer.from(r.body).toString(), 'body')
  })

  test('redactHeaders as a comma-separated string (fastify-cli form)', async t => {
    const s = await sink(t, { redactHeaders: 'x-a,x-b' })
    await s.app.inject({ method: 'GET', url: '/r', headers: { 'x-a': '1', 'x-b': '2', 'x-c': '3' } })
    const [r] = await s.records()
    assert.deepEqual([header(r, 'x-a'), header(r, 'x-b'), header(r, 'x-c')], ['[REDACTED]', '[REDACTED]', '3'])
  })

  for (const [opts, flag] of [
    [{ sample: 2 }, '--sample'],
    [{ sample: 'half' }, '--sample'],
    [{ bodyLimit: 'x' }, '--body-limit'],
    [{ bodyLimit: 0 }, '--body-limit'],
    [{ codec: 'zzz' }, '--codec'],
    [{ flushMs: 'soon' }, '--flush-ms'],
    [{ record: 'maybe' }, '--record'],
    [{ redactHeaders: ['bad header'] }, '--redact-header'],
    [{ adminPrefix: 'no-slash' }, '--admin-prefix'],
    [{ response: { status: 99 } }, '--response-status']
  ] as Array<[PresetOptions, string]>) {
    test(`option error ${JSON.stringify(opts)} rejects registration naming ${flag}`, async t => {
      const dir = await tmpDir('preset-bad')
      const app = Fastify()
      t.after(async () => {
        await app.close().catch(() => {})
        await rmDir(dir)
      })
      await assert.rejects(async () => {
        await app.register(blackholePreset, { out: dir, statsIntervalMs: 0, ...opts })
        await app.ready()
      }, (err: Error) => {
        assert.ok(err.message.includes(flag), `message should name ${flag}: ${err.message}`)
        return true
      })
      // Nothing written for a rejected configuration.
      assert.deepEqual((await listDir(dir)).filter(n => !isTmp(n)), [])
    })
  }
})
