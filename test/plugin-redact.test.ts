// Redaction: secrets in headers, query parameters, JSON keys (any depth) and urlencoded form
// fields never reach the archive files or the logs, in every mode; bodies that cannot be
// redacted safely are withheld; bad options are refused at registration, naming the option.
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { createHmac } from 'node:crypto'
import { existsSync } from 'node:fs'
import path from 'node:path'
import { LogController, type FastifyInstance } from 'fastify'
import blackhole, { DEFAULT_REDACT_HEADERS, type BlackholeOptions, type RedactOptions } from '../plugin/index.js'
import type { ArchiveRecord } from '../lib/archive/reader.js'
import type { CodecName } from '../lib/format/codecs.js'
import { Scope, archiveBytes, headerLines, headerOf, httpRequest, logCollector, records } from './fixtures-plugin.js'

const T = { timeout: 30_000 }

/** One set of secret values; `tag` makes every value of a set distinct from other sets. */
function secretsOf (tag: string): Record<string, string> {
  return {
    authorization: `SECRET-AUTHZ-${tag}`,
    proxy: `SECRET-PROXY-${tag}`,
    cookie: `SECRET-COOKIE-${tag}`,
    apiKey: `SECRET-APIKEY-${tag}`,
    setCookie: `SECRET-SETCOOKIE-${tag}`,
    query: `SECRET-QUERY-${tag}`,
    jsonTop: `SECRET-JSONTOP-${tag}`,
    jsonDeep: `SECRET-JSONDEEP-${tag}`,
    jsonArr: `SECRET-JSONARR-${tag}`,
    form: `SECRET-FORM-${tag}`
  }
}

function redactRoutes (app: FastifyInstance): void {
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)))
  })
  app.get('/q', async req => ({ query: req.query, auth: req.headers.authorization }))
  app.post('/json', async req => req.body)
  app.post('/form', async req => req.body)
}

interface Sent {
  headers: Record<string, string>
  url: string
  json: Buffer
  form: Buffer
}

function requestsOf (s: Record<string, string>): Sent {
  return {
    headers: {
      Authorization: `Bearer ${s.authorization}`,
      'Proxy-Authorization': `Basic ${s.proxy}`,
      Cookie: `sid=${s.cookie}; theme=dark`,
      'X-Api-Key': s.apiKey,
      'Set-Cookie': `x=${s.setCookie}`,
      'X-Keep': 'visible'
    },
    url: `/q?token=${s.query}&keep=1`,
    json: Buffer.from(JSON.stringify({
      user: 'u',
      password: s.jsonTop,
      nested: { deep: [{ password: s.jsonDeep, n: 1 }, 'plain', [{ other: 2 }]] },
      list: [{ apiKey: s.jsonArr }, { keep: 'visible' }]
    })),
    form: Buffer.from(`user=u&password=${s.form}&keep=1`)
  }
}

/**
 * Sends the three requests (query+headers, JSON, form) with `secrets`, over a real socket or
 * inject, and checks the app itself still saw every secret.
 */
async function send (app: FastifyInstance, port: number, s: Record<string, string>, via: 'socket' | 'inject'): Promise<void> {
  const r = requestsOf(s)
  const calls: Array<{ method: string, url: string, headers: Record<string, string>, body?: Buffer }> = [
    { method: 'GET', url: r.url, headers: r.headers },
    { method: 'POST', url: '/json', headers: { ...r.headers, 'content-type': 'application/json' }, body: r.json },
    { method: 'POST', url: '/form', headers: { ...r.headers, 'content-type': 'application/x-www-form-urlencoded' }, body: r.form }
  ]
  for (const c of calls) {
    let status: number
    let body: string
    if (via === 'socket') {
      const res = await httpRequest(port, { method: c.method, path: c.url, headers: c.headers, body: c.body })
      status = res.status
      body = res.body
    } else {
      const res = await app.inject({ method: c.method as 'GET', url: c.url, headers: c.headers, payload: c.body })
      status = res.statusCode
      body = res.body
    }
    assert.equal(status, 200, `${c.method} ${c.url}`)
    // Redaction is for the archive only: the app sees the real values.
    if (c.url === '/json') assert.ok(body.includes(s.jsonDeep))
    if (c.url === '/form') assert.ok(body.includes(s.form))
    if (c.method === 'GET') assert.ok(body.includes(s.query) && body.includes(s.authorization))
  }
}

/** Asserts none of `needles` occurs in any archive byte (files, decompressed streams, lz4 -dc) or log line. */
async function assertNowhere (dir: string, lines: string[], needles: string[]): Promise<void> {
  const { files, streams, lz4 } = await archiveBytes(dir)
  assert.ok(files.length > 0 && streams.every(s => s.length > 0), 'the archive holds data')
  for (const n of needles) {
    for (const [kind, bufs] of [['file', files], ['decompressed stream', streams], ['lz4 -dc output', lz4]] as const) {
      for (const b of bufs) assert.equal(b.indexOf(n), -1, `${n} found in an archive ${kind}`)
    }
    for (const l of lines) assert.ok(!l.includes(n), `${n} found in a log line: ${l}`)
  }
}

/** Asserts every one of `needles` occurs in the archive (controls: the search can fail). */
async function assertPresent (dir: string, needles: string[], codec: CodecName): Promise<void> {
  const { files, streams, lz4 } = await archiveBytes(dir)
  for (const n of needles) {
    assert.ok(streams.some(s => s.includes(n)), `${n} in the decompressed stream`)
    if (codec === 'none') assert.ok(files.some(f => f.includes(n)), `${n} in the file bytes`)
    for (const b of lz4) assert.ok(b.includes(n), `${n} in lz4 -dc output`)
  }
}

interface Run {
  dir: string
  lines: string[]
  recs: ArchiveRecord[]
  stats: ReturnType<FastifyInstance['archive']['stats']>
}

/** An app with `redact`, two rounds of the same secrets (socket, then inject) and one round of other secrets. */
async function run (t: TestContext, redact: RedactOptions | false, codec: CodecName, extra: Partial<BlackholeOptions> = {}): Promise<Run> {
  const scope = new Scope(t)
  const dir = await scope.dir('redact')
  const log = logCollector()
  // Fastify's own request logging would print the URL (with its query) itself; the check is
  // about what the plugin logs, so that is off, and the level is as verbose as it goes.
  const app = await scope.app(redactRoutes, { dir, codec, redact, ...extra }, {
    logger: { level: 'trace', stream: log.stream },
    logController: new LogController({ disableRequestLogging: true })
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = (app.server.address() as { port: number }).port
  await send(app, port, secretsOf('a'), 'socket')
  await send(app, port, secretsOf('a'), 'inject')
  await send(app, port, secretsOf('b'), 'socket')
  const stats = app.archive.stats()
  await app.close()
  assert.ok(log.lines.some(l => l.includes('Server listening')), 'the log collector is wired')
  const recs = await records(dir)
  assert.equal(recs.length, 9)
  return { dir, lines: log.lines, recs, stats }
}

const REDACT_LISTS = { query: ['token'], jsonKeys: ['password', 'apiKey'] }
const SECRET_HEADERS = ['authorization', 'proxy-authorization', 'cookie', 'x-api-key', 'set-cookie']

function allSecrets (): string[] {
  return [...Object.values(secretsOf('a')), ...Object.values(secretsOf('b'))]
}

/** The records of one round: [GET /q, POST /json, POST /form]. */
function round (recs: ArchiveRecord[], i: number): ArchiveRecord[] {
  return recs.slice(i * 3, i * 3 + 3)
}

function jsonOf (r: ArchiveRecord): any {
  return JSON.parse(Buffer.from(r.body).toString('utf8'))
}

function queryOf (r: ArchiveRecord): URLSearchParams {
  return new URLSearchParams(r.uri.slice(r.uri.indexOf('?') + 1))
}

function formOf (r: ArchiveRecord): URLSearchParams {
  return new URLSearchParams(Buffer.from(r.body).toString('latin1'))
}

for (const codec of ['none', 'auto'] as const) {
  test(`remove mode (codec ${codec}): secret headers, query params, JSON keys and form fields are gone`, T, async t => {
    const { dir, lines, recs, stats } = await run(t, { mode: 'remove', ...REDACT_LISTS }, codec)
    await assertNowhere(dir, lines, allSecrets())
    for (let i = 0; i < 3; i++) {
      const [q, j, f] = round(recs, i)
      for (const r of [q, j, f]) {
        const names = headerLines(r.headers).map(([n]) => n.toLowerCase())
        for (const h of SECRET_HEADERS) assert.ok(!names.includes(h), `${h} removed`)
        assert.equal(headerOf(r.headers, 'x-keep'), 'visible')
        assert.ok(r.headers.endsWith('\r\n\r\n'))
      }
      assert.equal(q.uri, '/q?keep=1')
      assert.deepEqual(jsonOf(j), { user: 'u', nested: { deep: [{ n: 1 }, 'plain', [{ other: 2 }]] }, list: [{}, { keep: 'visible' }] })
      assert.equal(Buffer.from(f.body).toString(), 'user=u&keep=1')
      assert.equal(j.bodyTruncated, false)
    }
    assert.equal(stats.capture.withheldBodies, 0)
  })

  test(`mask mode (codec ${codec}), custom mask text: every secret is replaced by the mask`, T, async t => {
    const mask = '<<hidden>>'
    const { dir, lines, recs } = await run(t, { mode: 'mask', mask, ...REDACT_LISTS }, codec)
    await assertNowhere(dir, lines, allSecrets())
    for (let i = 0; i < 3; i++) {
      const [q, j, f] = round(recs, i)
      for (const r of [q, j, f]) {
        for (const h of SECRET_HEADERS) assert.equal(headerOf(r.headers, h), mask, `${h} masked`)
        assert.equal(headerOf(r.headers, 'x-keep'), 'visible')
      }
      assert.equal(queryOf(q).get('token'), mask)
      assert.equal(queryOf(q).get('keep'), '1')
      assert.ok(q.uri.startsWith('/q?token='))
      assert.deepEqual(jsonOf(j), {
        user: 'u',
        password: mask,
        nested: { deep: [{ password: mask, n: 1 }, 'plain', [{ other: 2 }]] },
        list: [{ apiKey: mask }, { keep: 'visible' }]
      })
      assert.deepEqual([...formOf(f)], [['user', 'u'], ['password', mask], ['keep', '1']])
    }
  })

  test(`hash mode (codec ${codec}): equal secrets hash equal across records, different ones differ, never the secret`, T, async t => {
    const { dir, lines, recs } = await run(t, { mode: 'hash', hashKey: 'test-key-1', ...REDACT_LISTS }, codec)
    await assertNowhere(dir, lines, allSecrets())
    const values = (i: number): string[] => {
      const [q, j, f] = round(recs, i)
      const json = jsonOf(j)
      return [
        ...SECRET_HEADERS.map(h => headerOf(q.headers, h) as string),
        queryOf(q).get('token') as string,
        json.password, json.nested.deep[0].password, json.list[0].apiKey,
        formOf(f).get('password') as string
      ]
    }
    const a1 = values(0)
    const a2 = values(1)
    const b = values(2)
    assert.deepEqual(a2, a1, 'the same secrets (socket, then inject) give the same outputs')
    for (const v of [...a1, ...b]) {
      assert.equal(typeof v, 'string')
      assert.ok(v.length >= 16, `a hash, not a blank: ${v}`)
      assert.ok(!v.includes('SECRET'), `no secret in ${v}`)
    }
    for (let k = 0; k < a1.length; k++) assert.notEqual(a1[k], b[k], `different secrets differ (field ${k})`)
    // As documented: hmac:<base64url HMAC-SHA256(hashKey, value)>.
    const hmac = (v: string): string => 'hmac:' + createHmac('sha256', 'test-key-1').update(v).digest('base64url')
    const sa = secretsOf('a')
    assert.deepEqual(a1.slice(0, 5), [`Bearer ${sa.authorization}`, `Basic ${sa.proxy}`, `sid=${sa.cookie}; theme=dark`, sa.apiKey, `x=${sa.setCookie}`].map(hmac))
    assert.deepEqual(a1.slice(5), [sa.query, sa.jsonTop, sa.jsonDeep, sa.jsonArr, sa.form].map(hmac))
    assert.equal(new Set(a1).size, a1.length, 'different secrets within a round differ')
    // Headers of the JSON and form requests carry the same secrets as the GET: same outputs.
    for (const r of round(recs, 0)) assert.deepEqual(SECRET_HEADERS.map(h => headerOf(r.headers, h)), a1.slice(0, 5))
    assert.equal(jsonOf(round(recs, 0)[1]).user, 'u')
  })
}

test('mask mode with the default mask and default header list', T, async t => {
  assert.deepEqual([...DEFAULT_REDACT_HEADERS].sort(), [...SECRET_HEADERS].sort())
  const { dir, lines, recs } = await run(t, {}, 'none')
  const headerSecrets = allSecrets().filter(s => /AUTHZ|PROXY|COOKIE|APIKEY/.test(s))
  await assertNowhere(dir, lines, headerSecrets)
  for (const r of recs) for (const h of SECRET_HEADERS) assert.equal(headerOf(r.headers, h), '[REDACTED]')
  // Nothing else is configured: query and bodies are kept.
  assert.equal(recs[0].uri, `/q?token=${secretsOf('a').query}&keep=1`)
})

test('hash mode is keyed: another hashKey gives other outputs for the same secrets', T, async t => {
  const one = await run(t, { mode: 'hash', hashKey: 'key-one', ...REDACT_LISTS }, 'auto')
  const two = await run(t, { mode: 'hash', hashKey: Buffer.from('key-two'), ...REDACT_LISTS }, 'auto')
  for (const h of SECRET_HEADERS) assert.notEqual(headerOf(one.recs[0].headers, h), headerOf(two.recs[0].headers, h))
  assert.notEqual(queryOf(one.recs[0]).get('token'), queryOf(two.recs[0]).get('token'))
  assert.notEqual(jsonOf(one.recs[1]).password, jsonOf(two.recs[1]).password)
})

test('hash mode: different non-ASCII secrets (JSON values, query values) give different outputs', T, async t => {
  const scope = new Scope(t)
  const dir = await scope.dir('hash-unicode')
  const app = await scope.app(redactRoutes, { dir, redact: { mode: 'hash', hashKey: 'k', ...REDACT_LISTS } })
  // U+20AC and U+00AC, U+0161 and U+0061 differ only above the low byte.
  const pairs = [['€uro-1', '¬uro-1'], ['šecret', 'aecret']]
  for (const [x, y] of pairs) {
    for (const v of [x, y]) {
      assert.equal((await app.inject({ method: 'POST', url: '/json', payload: { password: v } })).statusCode, 200)
      assert.equal((await app.inject({ method: 'GET', url: `/q?token=${encodeURIComponent(v)}` })).statusCode, 200)
    }
  }
  await app.close()
  const recs = await records(dir)
  assert.equal(recs.length, 8)
  for (let p = 0; p < pairs.length; p++) {
    const [jx, qx, jy, qy] = recs.slice(p * 4, p * 4 + 4)
    assert.notEqual(jsonOf(jx).password, jsonOf(jy).password, `JSON: ${pairs[p][0]} and ${pairs[p][1]} hash alike`)
    assert.notEqual(queryOf(qx).get('token'), queryOf(qy).get('token'), `query: ${pairs[p][0]} and ${pairs[p][1]} hash alike`)
  }
})

test('redact: false records every secret verbatim (control: the searches can fail)', T, async t => {
  for (const codec of ['none', 'auto'] as const) {
    const { dir, recs, stats } = await run(t, false, codec)
    await assertPresent(dir, allSecrets(), codec)
    assert.equal(headerOf(recs[0].headers, 'authorization'), `Bearer ${secretsOf('a').authorization}`)
    assert.equal(recs[0].uri, `/q?token=${secretsOf('a').query}&keep=1`)
    assert.deepEqual(Buffer.from(recs[1].body), requestsOf(secretsOf('a')).json)
    assert.deepEqual(Buffer.from(recs[2].body), requestsOf(secretsOf('a')).form)
    assert.equal(stats.capture.withheldBodies, 0)
  }
})

test('a secret query parameter in X-Original-URI is redacted in the uri and nowhere left in the archive', T, async t => {
  const scope = new Scope(t)
  const dir = await scope.dir('orig-uri')
  const app = await scope.app(redactRoutes, { dir, codec: 'none', redact: { mode: 'mask', ...REDACT_LISTS } })
  const res = await app.inject({ method: 'GET', url: '/q', headers: { 'x-original-uri': '/upstream?token=SECRET-ORIGURI-1&keep=1' } })
  assert.equal(res.statusCode, 200)
  await app.close()
  const [r] = await records(dir)
  assert.equal(queryOf(r).get('token'), '[REDACTED]')
  assert.ok(r.uri.startsWith('/upstream?'))
  await assertNowhere(dir, [], ['SECRET-ORIGURI-1'])
})

test('JSON bodies that cannot be redacted safely (unparseable, or truncated) are withheld', T, async t => {
  const scope = new Scope(t)
  const dir = await scope.dir('withheld')
  const bare = await scope.app(redactRoutes, null)
  const app = await scope.app(redactRoutes, { dir, codec: 'none', maxBodyBytes: 40, redact: { mode: 'mask', jsonKeys: ['password'] } })
  const bad = Buffer.from('{"password":"SECRET-BADJSON-1","x":')
  const long = Buffer.from(JSON.stringify({ password: 'SECRET-LONGJSON-1', pad: 'p'.repeat(200) }))
  const form = Buffer.from(`password=SECRET-LONGFORM-1&pad=${'p'.repeat(200)}`)
  const sends = [
    { url: '/json', ct: 'application/json', body: bad },
    { url: '/json', ct: 'application/json; charset=utf-8', body: long },
    { url: '/form', ct: 'application/x-www-form-urlencoded', body: form }
  ]
  for (const s of sends) {
    const opts = { method: 'POST' as const, url: s.url, headers: { 'content-type': s.ct }, payload: s.body }
    const [a, b] = [await app.inject(opts), await bare.inject(opts)]
    assert.equal(a.statusCode, b.statusCode)
    assert.equal(a.body, b.body, 'the app answers as without the plugin')
  }
  const stats = app.archive.stats()
  await app.close()
  const recs = await records(dir)
  assert.equal(recs.length, 3)
  recs.forEach((r, i) => {
    assert.equal(r.body.length, 0, `body ${i} withheld`)
    assert.equal(r.bodyTruncated, true)
    assert.equal(r.bodyLength, sends[i].body.length)
  })
  assert.equal(recs[0].responseStatus, 400)
  assert.equal(recs[1].responseStatus, 200)
  assert.equal(stats.capture.withheldBodies, 3)
  await assertNowhere(dir, [], ['SECRET-BADJSON-1', 'SECRET-LONGJSON-1', 'SECRET-LONGFORM-1'])
})

test('every bad option rejects registration with a message naming the option', T, async t => {
  const scope = new Scope(t)
  const base = await scope.dir('options')
  const dir = path.join(base, 'never-created')
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ dir, bogus: 1 }, /"bogus"/],
    [{ dir, sample: 2 }, /"sample"/],
    [{ dir, sample: Number.NaN }, /"sample"/],
    [{ dir, redact: { mode: 'x' } }, /"redact\.mode"/],
    [{ dir, redact: { mode: 'hash' } }, /"redact\.hashKey"/],
    [{ dir, redact: { mode: 'hash', hashKey: '' } }, /"redact\.hashKey"/],
    [{ dir, redact: { mask: 'a\r\nb' } }, /"redact\.mask"/],
    [{ dir, redact: { headers: ['bad header'] } }, /"redact\.headers\[0\]"/],
    [{ dir, redact: { jsonkeys: ['password'] } }, /"redact\.jsonkeys"/],
    [{ dir, redact: 'yes' }, /"redact"/],
    [{ dir, include: { urls: [3] } }, /"include\.urls"/],
    [{ dir, include: { method: ['GET'] } }, /"include\.method"/],
    [{ dir, exclude: { methods: 'GET' } }, /"exclude\.methods"/],
    [{ dir, idHeader: 'bad header' }, /"idHeader"/],
    [{ dir, originalUriHeader: 'x:y' }, /"originalUriHeader"/],
    [{ dir, sampleBy: 'cookie' }, /"sampleBy"/],
    [{ dir, sampleBy: { header: 'a b' } }, /"sampleBy\.header"/],
    [{ dir, maxPerSecond: -1 }, /"maxPerSecond"/],
    [{ dir, maxBodyBytes: 1.5 }, /"maxBodyBytes"/],
    [{ dir, recordResponse: 'yes' }, /"recordResponse"/],
    [{ dir, codec: 'zstd' }, /"codec"/],
    [{ dir: '' }, /"dir"/],
    [{}, /"dir"/],
    [{ dir, batchBytes: 0 }, /"batchBytes"/]
  ]
  for (const [opts, message] of cases) {
    const app = scope.fastify()
    await assert.rejects(async () => { await app.register(blackhole, opts as BlackholeOptions) }, message, JSON.stringify(opts))
    await app.close().catch(() => {})
  }
  assert.equal(existsSync(dir), false, 'no directory is created for rejected options')
})
