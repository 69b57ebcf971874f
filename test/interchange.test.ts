// Interchange: export (HAR, JSON Lines), import, extract and stats, through the CLI as users run
// them. The HAR is checked by a maintained validator (@har-sdk/validator) and replayed by a real
// consumer (autocannon's HAR support) against a loopback server.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { copyFile, mkdir, readFile, readdir, stat, truncate, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import net from 'node:net'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import harSdk from '@har-sdk/validator'
import { readArchive } from '../lib/archive/reader.js'
import { SizeHistogram, StatsCollector, MAX_TRACKED_PATHS, type ArchiveStats } from '../lib/interchange/stats.js'
import { decodeRequest, encodeRequest, type RequestRecord } from '../lib/format/record.js'
import { buildHeaderBlock, parseHeaderBlock } from '../lib/format/header-block.js'
import { importHeaders, toHarEntry } from '../lib/interchange/har.js'
import type { Har, HarEntry } from '../lib/interchange/har-types.js'
import { parseIsoNs, uriFromUrl } from '../lib/interchange/http-text.js'
import { extractFileName, toHttpMessage } from '../lib/interchange/extract.js'
import { BINARY, RECORDS, recordingServer, recordsJson, rmDir, runCli, tmpDir, writeArchive } from './fixtures-interchange.js'

const require = createRequire(import.meta.url)
interface AutocannonResult { requests: { total: number }, errors: number, non2xx: number, '2xx': number }
const autocannon = require('autocannon') as (opts: Record<string, unknown>) => Promise<AutocannonResult>
const here = path.dirname(fileURLToPath(import.meta.url))
const pkg = JSON.parse(await readFile(path.join(here, '..', '..', 'package.json'), 'utf8')) as { version: string }

const noStack = (stderr: string): void => assert.doesNotMatch(stderr, /^\s+at /m, `stack trace on stderr:\n${stderr}`)

async function validateHar (har: unknown): Promise<void> {
  const errors = await new harSdk.HarValidator().verify(har as Parameters<harSdk.HarValidator['verify']>[0])
  assert.deepEqual(errors, [], 'HAR validator errors')
}

/** What HAR 1.2 requires and @har-sdk's schema leaves optional. */
function assertSpecFields (har: Har): void {
  assert.equal(har.log.version, '1.2')
  for (const [i, e] of har.log.entries.entries()) {
    const at = `entry ${i}`
    assert.match(e.startedDateTime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, at)
    assert.ok(e.time >= 0, at)
    assert.ok(Number.isInteger(e.request.headersSize) && Number.isInteger(e.request.bodySize), at)
    assert.ok(e.request.headersSize > 0 && e.request.bodySize >= 0, at)
    assert.deepEqual(e.cache, {}, at)
    assert.ok(Number.isInteger(e.response.content.size) && typeof e.response.content.mimeType === 'string', at)
    for (const k of ['send', 'wait', 'receive'] as const) assert.ok(e.timings[k] >= 0, `${at} timings.${k}`)
    for (const k of ['blocked', 'dns', 'connect', 'ssl'] as const) assert.equal(e.timings[k], -1, `${at} timings.${k}`)
    if (e.request.postData) assert.equal(typeof e.request.postData.text, 'string', at)
  }
}

let base: string
let arch: string // two files: RECORDS[0..5] lz4, RECORDS[6..] raw
let fileB: string
let original: Awaited<ReturnType<typeof recordsJson>>
let harPath: string
let har: Har

before(async () => {
  base = await tmpDir('interchange')
  arch = path.join(base, 'arch')
  await mkdir(arch)
  await writeArchive(arch, RECORDS.slice(0, 6), 'requests_20240101000000_1-00000001.fbf.lz4', 'lz4js')
  fileB = await writeArchive(arch, RECORDS.slice(6), 'requests_20240101000001_1-00000002.fbf', 'none')
  original = await recordsJson(arch)
  assert.equal(original.length, RECORDS.length)
  harPath = path.join(base, 'out.har')
  const r = await runCli(['export', '--har', harPath, arch])
  assert.equal(r.code, 0, r.stderr)
  assert.match(r.stdout, new RegExp(`wrote ${RECORDS.length} HAR entries`))
  har = JSON.parse(await readFile(harPath, 'utf8')) as Har
})

after(() => rmDir(base))

describe('export --har', () => {
  test('is HAR 1.2 that @har-sdk/validator accepts, with the fields the spec requires', async () => {
    await validateHar(har)
    assertSpecFields(har)
    assert.deepEqual(har.log.creator, { name: 'fastify-blackhole', version: pkg.version })
    assert.equal(har.log.entries.length, RECORDS.length)
    // Written as OUT.tmp, renamed, owner-only.
    assert.deepEqual((await readdir(base)).filter(n => n.startsWith('out.har')), ['out.har'])
    assert.equal((await stat(harPath)).mode & 0o777, 0o600)
  })

  test('text entry: url, headers in order, query, cookies, sizes, postData text, recorded response', () => {
    const e = har.log.entries[0]
    const r = RECORDS[0]
    assert.equal(e.startedDateTime, '2023-11-14T22:13:20.123Z')
    assert.equal(e._timeNs, '1700000000123456789')
    assert.equal(e.request.method, 'POST')
    assert.equal(e.request.url, 'http://example.test/orders?id=7&name=caf%C3%A9&flag')
    assert.equal(e.request.httpVersion, 'HTTP/1.1')
    assert.deepEqual(e.request.headers.map(h => `${h.name}=${h.value}`), [
      'Host=example.test', 'Content-Type=application/json', 'Cookie=session=abc; theme=dark',
      'X-Dup=one', 'X-Dup=two', 'x-MiXeD-CaSe=v', 'Content-Length=28'
    ])
    assert.deepEqual(e.request.queryString, [{ name: 'id', value: '7' }, { name: 'name', value: 'café' }, { name: 'flag', value: '' }])
    assert.deepEqual(e.request.cookies, [{ name: 'session', value: 'abc' }, { name: 'theme', value: 'dark' }])
    assert.equal(e.request.headersSize, `POST ${r.uri as string} HTTP/1.1\r\n`.length + (r.headers as string).length)
    assert.equal(e.request.bodySize, 28)
    assert.deepEqual(e.request.postData, { mimeType: 'application/json', text: '{"hello":"wörld","n":[1,2]}' })
    assert.equal(e.request._uri, undefined)
    assert.equal(e.request._headersRaw, undefined)
    assert.equal(e.response.status, 201)
    assert.equal(e.response.statusText, 'Created')
    assert.equal(e.time, 1.234567)
    assert.equal(e.timings.wait, 1.234567)
    assert.equal(e._id, 'text-1')
    assert.equal(e._remoteAddress, '10.0.0.5')
    assert.equal(e._remotePort, 40000)
    assert.equal(e._bodyTruncated, false)
    assert.equal(e._bodyLength, 28)
  })

  test('binary body is base64 with encoding; no response recorded gives the placeholder', () => {
    const e = har.log.entries[1]
    assert.deepEqual(e.request.postData, { mimeType: 'application/octet-stream', text: BINARY.toString('base64'), encoding: 'base64' })
    assert.equal(e.response.status, 0)
    assert.equal(e.response.statusText, '')
    assert.deepEqual(e.response.content, { size: 0, mimeType: 'x-unknown' })
    assert.equal(e.time, 0)
    assert.deepEqual([e.timings.send, e.timings.wait, e.timings.receive], [0, 0, 0])
  })

  test('empty body: no postData; odd targets and header lines are carried in _uri and _headersRaw', async () => {
    const [, , empty, latin, abs, star, trunc, bom, legacy, h2] = har.log.entries
    assert.equal(empty.request.postData, undefined)
    assert.equal(empty.request.bodySize, 0)
    assert.equal(empty.request.httpVersion, 'HTTP/1.0')
    // latin1 bytes are one char per byte; the header list trims values, so the exact lines go in _headersRaw.
    assert.deepEqual(latin.request.headers.find(h => h.name === 'X-Latin1'), { name: 'X-Latin1', value: 'caf\u00e9' })
    assert.deepEqual(latin.request.headers.find(h => h.name === 'X-Utf8'), { name: 'X-Utf8', value: 'caf\u00c3\u00a9' })
    assert.equal(latin.request._headersRaw, RECORDS[3].headers)
    assert.deepEqual(latin.request.postData, { mimeType: '', text: Buffer.from('caf\u00e9', 'latin1').toString('base64'), encoding: 'base64' })
    // Absolute-form stays as the url; '*' and no Host.
    assert.equal(abs.request.url, 'http://upstream.test:8080/items/9?force=1')
    assert.equal(abs.request._uri, 'http://upstream.test:8080/items/9?force=1')
    assert.equal(star.request.url, 'http://localhost/')
    assert.equal(star.request._uri, '*')
    assert.equal(star.request._headersRaw, 'User-Agent: x\r\n\r\n')
    assert.equal(trunc._bodyTruncated, true)
    assert.equal(trunc._bodyLength, 100000)
    assert.equal(trunc.request.bodySize, 100000)
    assert.equal(trunc.request.postData?.text, 'first bytes only')
    assert.equal(bom.request.postData?.text, '\ufeffline one\r\nline two\ttab')
    // No recorded time: the file's mtime, said by _timeNs "0"; no version: HTTP/1.1 and _httpVersion "".
    assert.equal(legacy.startedDateTime, new Date(Math.floor((await stat(fileB)).mtimeMs)).toISOString())
    assert.equal(legacy._timeNs, '0')
    assert.equal(legacy.request.httpVersion, 'HTTP/1.1')
    assert.equal(legacy._httpVersion, '')
    assert.equal(h2.request.url, 'http://example.test/h2?x=1')
    assert.equal(h2.request.httpVersion, 'HTTP/2.0')
    assert.equal(h2.request._headersRaw, RECORDS[9].headers)
    assert.deepEqual([h2.response.status, h2.response.statusText, h2.time], [404, 'Not Found', 5])
  })

  test('--har - writes to stdout; --id selects', async () => {
    const r = await runCli(['export', '--har', '-', '--id', 'bin/2', arch])
    assert.equal(r.code, 0, r.stderr)
    const one = JSON.parse(r.stdout) as Har
    assert.equal(one.log.entries.length, 1)
    assert.equal(one.log.entries[0]._id, 'bin/2')
    await validateHar(one)
  })

  test('a damaged archive: exit 1 naming the file, and neither OUT nor OUT.tmp is left', async () => {
    const bad = path.join(base, 'bad-arch')
    await mkdir(bad)
    const f = path.join(bad, 'requests_20240101000000_1-00000009.fbf.lz4')
    await copyFile(path.join(arch, 'requests_20240101000000_1-00000001.fbf.lz4'), f)
    await truncate(f, (await stat(f)).size - 20)
    for (const flag of ['--har', '--jsonl']) {
      const out = path.join(base, `partial${flag}`)
      const r = await runCli(['export', flag, out, bad])
      assert.equal(r.code, 1)
      assert.match(r.stderr, /requests_20240101000000_1-00000009\.fbf\.lz4: offset \d+/)
      noStack(r.stderr)
      assert.deepEqual((await readdir(base)).filter(n => n.startsWith('partial')), [])
    }
  })

  test('usage errors exit 2', async () => {
    for (const args of [['export', arch], ['export', '--har', 'a', '--jsonl', 'b', arch], ['export', '--har', 'x.har']]) {
      const r = await runCli(args)
      assert.equal(r.code, 2, args.join(' '))
      noStack(r.stderr)
    }
  })
})

describe('export --jsonl', () => {
  test('is byte for byte what dump --json prints, to a file or stdout', async () => {
    const dump = await runCli(['dump', '--json', arch])
    assert.equal(dump.code, 0, dump.stderr)
    const toStdout = await runCli(['export', '--jsonl', '-', arch])
    assert.equal(toStdout.code, 0, toStdout.stderr)
    assert.equal(toStdout.stdout, dump.stdout)
    const file = path.join(base, 'out.jsonl')
    const toFile = await runCli(['export', '--jsonl', file, arch])
    assert.equal(toFile.code, 0, toFile.stderr)
    assert.equal(await readFile(file, 'utf8'), dump.stdout)
    assert.equal(dump.stdout.split('\n').filter(Boolean).length, RECORDS.length)
  })
})

describe('import', () => {
  test('archive → HAR → archive gives back every field of every record', async () => {
    const out = path.join(base, 'from-har')
    const r = await runCli(['import', '--har', harPath, '--out', out])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, new RegExp(`imported ${RECORDS.length} record\\(s\\)`))
    const back = await recordsJson(out)
    assert.deepEqual(back, original)
    // Spelled out for the cases that matter: text, binary, empty bodies; latin1 header bytes.
    for (const i of [0, 1, 2, 3]) {
      assert.equal(back[i].method, RECORDS[i].method)
      assert.equal(back[i].uri, RECORDS[i].uri)
      assert.equal(back[i].headers, RECORDS[i].headers)
      assert.equal(back[i].body, Buffer.from(RECORDS[i].body ?? []).toString('base64'))
    }
  })

  test('archive → JSONL → archive gives back every field, also from stdin', async () => {
    const jsonl = (await runCli(['export', '--jsonl', '-', arch])).stdout
    const file = path.join(base, 'rt.jsonl')
    await writeFile(file, jsonl)
    const out = path.join(base, 'from-jsonl')
    const r = await runCli(['import', '--jsonl', file, '--out', out])
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(await recordsJson(out), original)
    const out2 = path.join(base, 'from-stdin')
    const r2 = await runCli(['import', '--jsonl', '-', '--out', out2, '--codec', 'none'], { stdin: jsonl })
    assert.equal(r2.code, 0, r2.stderr)
    assert.deepEqual(await recordsJson(out2), original)
    assert.ok((await readdir(out2)).every(n => n.endsWith('.fbf')))
  })

  test('a browser HAR: pseudo-headers skipped, URI from url, Host kept or added, postData without encoding', async () => {
    const browserHar = {
      log: {
        version: '1.2',
        creator: { name: 'WebInspector', version: '537.36' },
        pages: [],
        entries: [
          {
            startedDateTime: '2024-05-01T10:00:00.123456Z',
            time: 12.5,
            request: {
              method: 'POST',
              url: 'https://api.example.com/v1/items?id=3#frag',
              httpVersion: 'http/2.0',
              headers: [
                { name: ':authority', value: 'api.example.com' },
                { name: ':method', value: 'POST' },
                { name: ':path', value: '/v1/items?id=3' },
                { name: ':scheme', value: 'https' },
                { name: 'content-type', value: 'application/json' },
                { name: 'accept', value: '*/*' }
              ],
              queryString: [{ name: 'id', value: '3' }],
              cookies: [],
              headersSize: -1,
              bodySize: 9,
              postData: { mimeType: 'application/json', text: '{"a":"é"}' }
            },
            response: { status: 200, statusText: '', httpVersion: 'http/2.0', headers: [], cookies: [], content: { size: 2, mimeType: 'application/json' }, redirectURL: '', headersSize: -1, bodySize: -1 },
            cache: {},
            timings: { blocked: 1, dns: -1, ssl: -1, connect: -1, send: 0.5, wait: 11, receive: 1 }
          },
          {
            startedDateTime: '2024-05-01T10:00:01.000Z',
            time: 3,
            request: {
              method: 'GET',
              url: 'http://plain.example.com:8080/search?q=a%20b',
              httpVersion: 'HTTP/1.1',
              headers: [{ name: 'Host', value: 'plain.example.com:8080' }, { name: 'User-Agent', value: 'Mozilla/5.0' }],
              queryString: [],
              cookies: [],
              headersSize: 100,
              bodySize: 0
            },
            response: { status: 0, statusText: '', httpVersion: '', headers: [], cookies: [], content: { size: 0, mimeType: '' }, redirectURL: '', headersSize: -1, bodySize: -1, _error: 'net::ERR_FAILED' },
            cache: {},
            timings: { send: 0, wait: 0, receive: 0 }
          },
          {
            startedDateTime: '2024-05-01T10:00:02Z',
            time: 1,
            request: {
              method: 'POST',
              url: 'http://forms.example.com/submit',
              httpVersion: 'HTTP/1.1',
              headers: [{ name: 'Content-Type', value: 'application/x-www-form-urlencoded' }],
              queryString: [],
              cookies: [],
              headersSize: -1,
              bodySize: 11,
              postData: { mimeType: 'application/x-www-form-urlencoded', params: [{ name: 'a b', value: '1&2' }, { name: 'c', value: 'd' }] }
            },
            response: { status: 302, statusText: 'Found', httpVersion: 'HTTP/1.1', headers: [], cookies: [], content: { size: 0, mimeType: '' }, redirectURL: '/', headersSize: -1, bodySize: -1 },
            cache: {},
            timings: { send: 0, wait: 1, receive: 0 }
          },
          {
            startedDateTime: '2024-05-01T10:00:03.000+02:00',
            time: 0,
            request: {
              method: 'PUT',
              url: 'http://bin.example.com/b',
              httpVersion: 'HTTP/1.1',
              headers: [{ name: 'Host', value: 'bin.example.com' }],
              queryString: [],
              cookies: [],
              headersSize: -1,
              bodySize: 4,
              postData: { mimeType: 'application/octet-stream', text: 'AP+AAQ==', encoding: 'base64' }
            },
            response: { status: 201, statusText: 'Created', httpVersion: 'HTTP/1.1', headers: [], cookies: [], content: { size: 0, mimeType: '' }, redirectURL: '', headersSize: -1, bodySize: -1 },
            cache: {},
            timings: { send: 0, wait: 0, receive: 0 }
          }
        ]
      }
    }
    const file = path.join(base, 'chrome.har')
    await writeFile(file, JSON.stringify(browserHar, null, 2))
    const out = path.join(base, 'from-chrome')
    const r = await runCli(['import', '--har', file, '--out', out])
    assert.equal(r.code, 0, r.stderr)
    const recs = []
    for await (const rec of readArchive(out)) recs.push(rec)
    assert.equal(recs.length, 4)
    const [h2, plain, form, bin] = recs
    assert.equal(h2.method, 'POST')
    assert.equal(h2.uri, '/v1/items?id=3')
    assert.equal(h2.headers, 'Host: api.example.com\r\ncontent-type: application/json\r\naccept: */*\r\n\r\n')
    assert.equal(Buffer.from(h2.body).toString('utf8'), '{"a":"é"}')
    assert.equal(h2.httpVersion, '2.0')
    assert.equal(h2.timeNs, 1_714_557_600_123_456_000n)
    assert.equal(h2.responseStatus, 200)
    assert.equal(h2.responseTimeNs, 12_500_000n)
    assert.equal(h2.id, '')
    assert.equal(plain.uri, '/search?q=a%20b')
    assert.equal(plain.headers, 'Host: plain.example.com:8080\r\nUser-Agent: Mozilla/5.0\r\n\r\n')
    assert.equal(plain.body.length, 0)
    assert.equal(plain.responseStatus, 0)
    assert.equal(plain.responseTimeNs, 0n)
    assert.equal(form.uri, '/submit')
    assert.equal(form.headers, 'Host: forms.example.com\r\nContent-Type: application/x-www-form-urlencoded\r\n\r\n')
    assert.equal(Buffer.from(form.body).toString(), 'a%20b=1%262&c=d')
    assert.deepEqual([...bin.body], [0x00, 0xFF, 0x80, 0x01])
    assert.equal(bin.timeNs, BigInt(Date.parse('2024-05-01T08:00:03Z')) * 1_000_000n)
  })

  test('malformed HAR: exit 1 naming the entry and the problem, nothing left in --out or beside it', async () => {
    const entry = (): HarEntry => JSON.parse(JSON.stringify(har.log.entries[0])) as HarEntry
    const withEntries = (...entries: unknown[]): string => JSON.stringify({ log: { version: '1.2', creator: { name: 't', version: '1' }, entries } })
    const noMethod = entry() as unknown as { request: Record<string, unknown> }
    delete noMethod.request.method
    const badBase64 = entry()
    badBase64.request.postData = { mimeType: 'x', text: 'not base64!', encoding: 'base64' }
    const badHeaders = entry() as unknown as { request: Record<string, unknown> }
    badHeaders.request.headers = { Host: 'x' }
    const badTime = entry() as unknown as Record<string, unknown>
    delete badTime._timeNs
    badTime.startedDateTime = 'yesterday'
    const cases: Array<[string, RegExp]> = [
      ['{"log": {"entries": [', /not valid JSON/],
      ['{"foo": 1}', /not a HAR file \(no "log" object\)/],
      ['{"log": {}}', /no "log\.entries" array/],
      [withEntries(entry(), noMethod), /log\.entries\[1\]: request\.method is missing/],
      [withEntries(badBase64), /log\.entries\[0\]: request\.postData\.text is not valid base64/],
      [withEntries(entry(), entry(), badHeaders), /log\.entries\[2\]: request\.headers is missing or not an array/],
      [withEntries(entry(), 42), /log\.entries\[1\]: is not an object/],
      [withEntries(badTime), /log\.entries\[0\]: startedDateTime 'yesterday' is not an ISO 8601 date-time/]
    ]
    const parent = path.join(base, 'bad-har')
    await mkdir(parent)
    const kept = path.join(parent, 'existing')
    await mkdir(kept)
    await writeFile(path.join(kept, 'keep.txt'), 'x')
    for (const [i, [content, expected]] of cases.entries()) {
      const file = path.join(parent, `in-${i}.har`)
      await writeFile(file, content)
      for (const out of [path.join(parent, `out-${i}`), kept]) {
        const r = await runCli(['import', '--har', file, '--out', out])
        assert.equal(r.code, 1, `case ${i}: ${r.stderr}`)
        assert.match(r.stderr, expected, `case ${i}`)
        assert.ok(r.stderr.includes(file), `case ${i} names the file: ${r.stderr}`)
        noStack(r.stderr)
      }
      assert.deepEqual((await readdir(parent)).filter(n => !n.startsWith('in-')).sort(), ['existing'], `case ${i} leaves nothing`)
      assert.deepEqual(await readdir(kept), ['keep.txt'])
    }
  })

  test('malformed JSONL: exit 1 naming the line, nothing left in --out', async () => {
    const good = (await runCli(['export', '--jsonl', '-', arch])).stdout.trimEnd().split('\n')
    const many = Array.from({ length: 300 }, (_, i) => good[i % good.length])
    const cases: Array<[string[], RegExp]> = [
      [[good[0], '', '{"method": "GET", "uri": '], /line 3: not valid JSON/],
      [[good[0], '{"method": "GET"}'], /line 2: "uri" is missing/],
      [['{"method": "GET", "uri": "/", "body": "***"}'], /line 1: "body" is not valid base64/],
      [['[1, 2]'], /line 1: not a JSON object/],
      [[good[1], '{"method": "GET", "uri": "/", "timeNs": "-5"}'], /line 2: "timeNs" must be a decimal string/],
      [[good[1], '{"method": "GET", "uri": "/", "remotePort": 70000}'], /line 2: "remotePort" must be an integer from 0 to 65535/],
      [[...many, '{"method": 1, "uri": "/"}'], /line 301: "method" must be a string/]
    ]
    const parent = path.join(base, 'bad-jsonl')
    await mkdir(parent)
    for (const [i, [lines, expected]] of cases.entries()) {
      const file = path.join(parent, `in-${i}.jsonl`)
      await writeFile(file, lines.join('\n') + '\n')
      const r = await runCli(['import', '--jsonl', file, '--out', path.join(parent, `out-${i}`)])
      assert.equal(r.code, 1, `case ${i}: ${r.stderr}`)
      assert.match(r.stderr, expected, `case ${i}`)
      noStack(r.stderr)
      assert.deepEqual((await readdir(parent)).filter(n => !n.startsWith('in-')), [], `case ${i} leaves nothing`)
    }
    const missing = await runCli(['import', '--jsonl', path.join(parent, 'nope.jsonl'), '--out', path.join(parent, 'o')])
    assert.equal(missing.code, 1)
    assert.match(missing.stderr, /nope\.jsonl: no such file/)
    // --out is a file: one line, exit 1, the file untouched.
    const notDir = path.join(parent, 'a-file')
    await writeFile(notDir, 'x')
    await writeFile(path.join(parent, 'good.jsonl'), good.join('\n'))
    const r = await runCli(['import', '--jsonl', path.join(parent, 'good.jsonl'), '--out', notDir])
    assert.equal(r.code, 1)
    assert.match(r.stderr, /EEXIST|ENOTDIR/)
    noStack(r.stderr)
    assert.equal(await readFile(notDir, 'utf8'), 'x')
  })

  test('usage errors exit 2', async () => {
    for (const args of [['import', '--har', harPath], ['import', '--out', 'x'], ['import', '--har', harPath, '--jsonl', 'x', '--out', 'y'], ['import', '--har', harPath, '--out', 'y', '--codec', 'zip']]) {
      const r = await runCli(args)
      assert.equal(r.code, 2, args.join(' '))
      noStack(r.stderr)
    }
  })
})

describe('autocannon replays the exported HAR', () => {
  test('the requests reach a loopback server with their methods, paths, headers and bodies', async () => {
    const server = await recordingServer()
    try {
      const host = `127.0.0.1:${server.port}`
      const json = '{"order":7,"note":"über"}'
      const records: RequestRecord[] = [
        { id: 'a', method: 'POST', uri: '/orders?src=har', headers: `Host: ${host}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(json)}\r\nX-Trace: t1\r\n\r\n`, body: Buffer.from(json), timeNs: 1_700_000_000_000_000_000n },
        { id: 'b', method: 'GET', uri: '/search?q=a%20b&page=2', headers: `Host: ${host}\r\nAccept: text/html\r\n\r\n`, timeNs: 1_700_000_001_000_000_000n },
        { id: 'c', method: 'PUT', uri: '/items/3', headers: `Host: ${host}\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\n`, body: Buffer.from('plain text'), timeNs: 1_700_000_002_000_000_000n },
        { id: 'd', method: 'DELETE', uri: '/items/3', headers: `Host: ${host}\r\n\r\n`, timeNs: 1_700_000_003_000_000_000n }
      ]
      const dir = path.join(base, 'ac-arch')
      await mkdir(dir)
      await writeArchive(dir, records)
      const file = path.join(base, 'ac.har')
      const r = await runCli(['export', '--har', file, dir])
      assert.equal(r.code, 0, r.stderr)
      const acHar = JSON.parse(await readFile(file, 'utf8')) as Har
      await validateHar(acHar)
      const result = await autocannon({ url: server.origin, har: acHar, connections: 1, amount: records.length, timeout: 10 })
      assert.equal(result.errors, 0)
      assert.equal(result['2xx'], records.length)
      assert.equal(server.received.length, records.length)
      for (const [i, rec] of records.entries()) {
        const got = server.received[i]
        assert.equal(got.method, rec.method)
        assert.equal(got.url, rec.uri)
        assert.equal(got.body.toString('utf8'), Buffer.from(rec.body ?? []).toString('utf8'))
        for (const h of parseHeaderBlock(rec.headers as string)) {
          assert.ok(got.headers.toLowerCase().includes(`${h.name}: ${h.value}\r\n`.toLowerCase()), `${rec.id}: ${h.name} in\n${got.headers}`)
        }
      }
    } finally {
      await server.close()
    }
  })
})

describe('extract', () => {
  async function send (port: number, data: Buffer): Promise<string> {
    const socket = net.connect(port, '127.0.0.1')
    await once(socket, 'connect')
    socket.write(data)
    let reply = ''
    socket.setEncoding('latin1')
    for await (const chunk of socket) {
      reply += chunk as string
      if (reply.includes('\r\n\r\n')) break
    }
    socket.destroy()
    return reply
  }

  test('the message file sent over a raw socket arrives as the recorded request', async () => {
    const server = await recordingServer()
    const out = path.join(base, 'extracted')
    try {
      const cases: Array<{ id: string, headers: string, note?: RegExp }> = [
        { id: 'text-1', headers: RECORDS[0].headers as string },
        { id: 'bin/2', headers: RECORDS[1].headers as string, note: /chunked kept/ },
        { id: 'empty-3', headers: RECORDS[2].headers as string },
        { id: 'trunc-7', headers: 'Host: example.test\r\nContent-Length: 16\r\n\r\n', note: /Content-Length set to the stored body's 16 bytes/ },
        { id: 'FH-9', headers: 'Host: example.test\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n', note: /added Content-Length: 5/ },
        { id: 'h2-10', headers: 'Host: example.test\r\naccept: text/html\r\n\r\n', note: /pseudo-header/ }
      ]
      for (const c of cases) {
        const r = await runCli(['extract', '--id', c.id, '--out', out, arch])
        assert.equal(r.code, 0, r.stderr)
        const file = path.join(out, extractFileName(c.id))
        assert.ok(r.stdout.startsWith(file), r.stdout)
        if (c.note) assert.match(r.stdout, c.note)
        const rec = RECORDS.find(x => x.id === c.id) as RequestRecord
        const data = await readFile(file)
        assert.ok(data.toString('latin1').startsWith(`${rec.method as string} ${rec.uri as string} HTTP/1.1\r\n`))
        const before = server.received.length
        const reply = await send(server.port, data)
        assert.match(reply, /^HTTP\/1\.1 204 /, `${c.id}: ${reply}`)
        assert.equal(server.received.length, before + 1)
        const got = server.received[before]
        assert.equal(got.method, rec.method, c.id)
        assert.equal(got.url, rec.uri, c.id)
        assert.equal(got.httpVersion, '1.1')
        assert.equal(got.headers, c.headers, c.id)
        assert.deepEqual(got.body, Buffer.from(rec.body ?? []), c.id)
      }
      assert.ok((await readdir(out)).includes('request_bin_2.http'))
    } finally {
      await server.close()
    }
  })

  test('an unknown id exits 1; a missing --id exits 2', async () => {
    const r = await runCli(['extract', '--id', 'nope', '--out', path.join(base, 'ex2'), arch])
    assert.equal(r.code, 1)
    assert.match(r.stderr, /no record with id 'nope'/)
    const u = await runCli(['extract', arch])
    assert.equal(u.code, 2)
    noStack(r.stderr + u.stderr)
  })

  test('file names and empty chunked bodies', () => {
    assert.equal(extractFileName('../../etc/passwd'), 'request_.._.._etc_passwd.http')
    assert.equal(extractFileName(''), 'request__.http')
    assert.equal(extractFileName('..'), 'request__.http')
    assert.equal(extractFileName('a b', 3), 'request_a_b_3.http')
    const r = decodeRequest(encodeRequest({ method: 'POST', uri: '/c', headers: 'Host: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n' }))
    assert.equal(toHttpMessage(r).data.toString('latin1'), 'POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n')
  })
})

describe('stats', () => {
  const S = 1_700_000_000n * 1_000_000_000n // 2023-11-14T22:13:20Z, on a second boundary
  const rec = (method: string, uri: string, body: number, sec: number | null, status = 0): RequestRecord => ({
    method, uri, headers: 'Host: s\r\n\r\n', body: Buffer.alloc(body, 0x61), timeNs: sec === null ? 0n : S + BigInt(sec) * 1_000_000_000n + 1000n, responseStatus: status
  })

  test('figures of a known archive (--json) and the text report', async () => {
    const records = [
      ...Array.from({ length: 6 }, (_, i) => rec('GET', `/a?x=${i}`, 0, 0, 200)),
      ...Array.from({ length: 3 }, () => rec('POST', '/b', 100, 1)),
      rec('POST', '/c', 2000, 4),
      rec('PUT', '/a', 10, null)
    ]
    const dir = path.join(base, 'stats-arch')
    await mkdir(dir)
    await writeArchive(dir, records.slice(0, 5), 'requests_20240101000000_1-00000001.fbf.lz4')
    await writeArchive(dir, records.slice(5), 'requests_20240101000001_1-00000002.fbf.lz4')
    const r = await runCli(['stats', '--json', dir])
    assert.equal(r.code, 0, r.stderr)
    const s = JSON.parse(r.stdout) as ArchiveStats
    assert.equal(s.files, 2)
    assert.equal(s.records, 11)
    assert.equal(s.untimed, 1)
    assert.equal(s.firstTime, '2023-11-14T22:13:20.000001000Z')
    assert.equal(s.lastTime, '2023-11-14T22:13:24.000001000Z')
    assert.equal(s.spanSeconds, 4)
    assert.equal(s.averagePerSecond, 2.5)
    assert.equal(s.peakPerSecond, 6)
    assert.equal(s.rate.bucketSeconds, 1)
    assert.deepEqual(s.rate.rows.map(x => [x.start, x.count]), [
      ['2023-11-14T22:13:20Z', 6], ['2023-11-14T22:13:21Z', 3], ['2023-11-14T22:13:22Z', 0], ['2023-11-14T22:13:23Z', 0], ['2023-11-14T22:13:24Z', 1]
    ])
    assert.deepEqual(s.methods, [{ key: 'GET', count: 6 }, { key: 'POST', count: 4 }, { key: 'PUT', count: 1 }])
    assert.deepEqual(s.paths.byCount.map(p => [p.path, p.count, p.bodyBytes]), [['/a', 7, 10], ['/b', 3, 300], ['/c', 1, 2000]])
    assert.deepEqual(s.paths.byBytes.map(p => p.path), ['/c', '/b', '/a'])
    assert.equal(s.paths.capped, false)
    assert.deepEqual(s.status, { codes: [{ key: '200', count: 6 }], notRecorded: 5 })
    const b = s.bodySize
    assert.deepEqual([b.min, b.p50, b.p90, b.p99, b.max, b.total], [0, 0, 100, 2000, 2000, 2310])
    assert.deepEqual(b.buckets.slice(0, 3), [{ key: '0 B', count: 6 }, { key: '1 B - 1 KiB', count: 4 }, { key: '1 KiB - 16 KiB', count: 1 }])

    const text = await runCli(['stats', '--top', '2', dir])
    assert.equal(text.code, 0, text.stderr)
    for (const re of [/^records {4}11 in 2 file\(s\)$/m, /busiest second 6/, /requests over time \(1 s buckets\)/, /^ {2}2023-11-14T22:13:20Z {2}6 {2}6\.00\/s/m,
      /^methods$/m, /^ {2}GET {3}6 {2}54\.5%$/m, /^top paths by count$/m, /^ {2}200 +6 +54\.5%$/m, /^ {2}not recorded +5 +45\.5%$/m, /p99 1\.95 KiB/, /1 record\(s\) without an arrival time/]) {
      assert.match(text.stdout, re)
    }
    const byCount = text.stdout.slice(text.stdout.indexOf('top paths by count'), text.stdout.indexOf('top paths by body bytes'))
    assert.deepEqual(byCount.split('\n').slice(1).filter(Boolean).map(l => l.trim().split(/ +/)[0]), ['/a', '/b']) // --top 2
  })

  test('constant memory: path cap, coarser time buckets, approximate percentiles above 1 KiB', () => {
    const c = new StatsCollector()
    const base = decodeRequest(encodeRequest({ method: 'GET', uri: '/', headers: '' }))
    for (let i = 0; i < MAX_TRACKED_PATHS + 5; i++) c.add({ ...base, uri: `/p/${i}`, bodyLength: 1 })
    let s = c.result()
    assert.equal(s.paths.tracked, MAX_TRACKED_PATHS)
    assert.equal(s.paths.capped, true)
    assert.deepEqual(s.paths.other, { count: 5, bodyBytes: 5 })

    const t = new StatsCollector()
    const n = 200_001 // one request a second for 2.3 days: more seconds than buckets kept
    for (let i = 0; i < n; i++) t.add({ ...base, timeNs: S + BigInt(i) * 1_000_000_000n })
    s = t.result()
    assert.equal(s.peakPerSecond, null)
    assert.ok(s.rate.rows.length <= 30, `${s.rate.rows.length} rows`)
    assert.equal(s.rate.rows.reduce((a, x) => a + x.count, 0), n)
    assert.equal(s.rate.bucketSeconds, 7200)

    const h = new SizeHistogram()
    for (let v = 1; v <= 100_000; v++) h.add(v)
    for (const p of [50, 90, 99]) {
      const exact = p * 1000
      assert.ok(Math.abs(h.percentile(p) - exact) / exact < 0.011, `p${p}: ${h.percentile(p)}`)
    }
    assert.equal(h.percentile(100), 100_000)
  })
})

describe('conversion helpers', () => {
  test('uriFromUrl keeps the text as is; importHeaders drops pseudo-headers and keeps a Host', () => {
    assert.equal(uriFromUrl('https://u:p@h.test:8/a/../b%2F?x=%zz&y#f'), '/a/../b%2F?x=%zz&y')
    assert.equal(uriFromUrl('http://h.test'), '/')
    assert.equal(uriFromUrl('http://h.test?q=1'), '/?q=1')
    assert.equal(uriFromUrl('/rel?x'), '/rel?x')
    assert.deepEqual(importHeaders([{ name: 'a', value: '1' }], 'http://u@h.test:81/x'), [{ name: 'Host', value: 'h.test:81' }, { name: 'a', value: '1' }])
    assert.deepEqual(importHeaders([{ name: 'a', value: '1' }, { name: ':authority', value: 'auth' }, { name: 'b', value: '2' }], 'http://h/x'),
      [{ name: 'a', value: '1' }, { name: 'Host', value: 'auth' }, { name: 'b', value: '2' }])
    assert.equal(buildHeaderBlock(parseHeaderBlock('A: 1\r\nb: 2\r\nA: 3\r\n\r\n')), 'A: 1\r\nb: 2\r\nA: 3\r\n\r\n')
    assert.equal(parseIsoNs('2024-01-01T00:00:00.123456789Z'), 1_704_067_200_123_456_789n)
    assert.equal(parseIsoNs('not a date'), null)
  })

  test('toHarEntry with nothing but method and uri', () => {
    const e = toHarEntry(decodeRequest(encodeRequest({ method: 'GET', uri: '/x' })))
    assert.equal(e.request.url, 'http://localhost/x')
    assert.equal(e.startedDateTime, '1970-01-01T00:00:00.000Z')
    assert.equal(e.request._headersRaw, '')
    assert.equal(e.request.headersSize, 'GET /x HTTP/1.1\r\n\r\n'.length)
  })
})

test('dump --json lines are JSON.stringify(toJson()) to the character: random records, quotes, control bytes, latin1, no time', async () => {
  const { toJson, toJsonText } = await import('../lib/interchange/dump.js')
  const { randomRecord, Rng } = await import('./fixtures-core.js')
  const rng = new Rng(0xD0)
  const records: RequestRecord[] = Array.from({ length: 300 }, (_, i) => randomRecord(rng, i))
  records.push(
    { id: 'q"\\\u0001', method: 'GET', uri: '/a?b="c"&d=\\e\u001f', headers: 'X-A: "\u007f\u00e9\u00ff"\r\n\r\n', body: new Uint8Array([0, 255]), timeNs: 0n },
    { method: 'POST', uri: '/', bodyTruncated: true, bodyLength: 99, body: new Uint8Array(3), responseStatus: 503, responseTimeNs: 12345678901234n, remoteAddr: '::1', remotePort: 65535, httpVersion: '2.0' }
  )
  for (const [i, r] of records.entries()) {
    const d = decodeRequest(encodeRequest(r))
    for (const file of [undefined, i % 2 === 0 ? '/tmp/a "b".fbf.lz4' : 'plain.fbf']) {
      assert.equal(toJsonText(d, file), JSON.stringify(toJson(d, file)), `record ${i}`)
    }
  }
})
