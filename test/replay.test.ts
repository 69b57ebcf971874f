// The replay engine (lib/replay/replay.ts) in process: what a target receives (method, URI, header
// lines, body bytes) for every kind of record, into a plain node:http capture server and into
// the preset sink recording into a second directory; pacing (concurrency, rate, speed,
// max-wait), loop/multiply/duration, templated headers, filters and rewrites, transport errors
// and status checks, and replay into a Fastify instance through inject.
import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { cpSync, readdirSync, readlinkSync, statSync, truncateSync } from 'node:fs'
import path from 'node:path'
import type { TestContext } from 'node:test'
import Fastify, { type FastifyInstance } from 'fastify'
import { ArchiveError, type ArchiveRecord } from '../lib/archive/reader.js'
import { replay, type ReplayOptions, type ReplaySummary } from '../lib/replay/replay.js'
import type { OutgoingRequest } from '../lib/replay/request.js'
import type { DecodedRequest, RequestRecord } from '../lib/format/record.js'
import blackholePreset from '../preset/app.js'
import {
  bodyOf, CaptureServer, closedPort, errorCount, errorKinds, noise, expectedHeaderLines, expectedPath, fidelityRecords, MS_NS, rawValues,
  readRecords, receivedHeaderLines, rmDir, seriesRecords, sleep, T0_NS, tmpDir, writeRecords, type Captured,
  headerPairs, NOT_REPLAYED, archiveFor, captureFor
} from './fixtures-replay.js'

const archive = (t: TestContext, records: readonly RequestRecord[]): Promise<string> => archiveFor(t, records, 'engine')
const capture = captureFor

const errorsTotal = (s: ReplaySummary): number => errorCount(s.errors)

function assertErrors (s: ReplaySummary, expected: Record<string, number>): void {
  const e = errorKinds(s.errors, expected)
  assert.deepEqual(e.actual, e.expected)
}

/** Asserts what the capture server got for `r`, sent to a target with base path `base`. */
function assertFaithful (got: Captured, r: RequestRecord, port: number, base = '', keepHost = false): void {
  const id = String(r.id)
  assert.equal(got.method, r.method, `${id}: method`)
  assert.equal(got.url, expectedPath(String(r.uri), base), `${id}: request target`)
  assert.deepEqual(receivedHeaderLines(got.rawHeaders), expectedHeaderLines(String(r.headers)), `${id}: header lines (order, case, duplicates)`)
  const body = bodyOf(r)
  assert.equal(got.body.length, body.length, `${id}: body length`)
  assert.ok(got.body.equals(body), `${id}: body bytes`)
  // Framing recomputed for the stored body.
  assert.deepEqual(rawValues(got.rawHeaders, 'transfer-encoding'), [], `${id}: no Transfer-Encoding`)
  const cl = rawValues(got.rawHeaders, 'content-length')
  if (body.length > 0) assert.deepEqual(cl, [String(body.length)], `${id}: Content-Length of the stored body`)
  else assert.ok(cl.length === 0 || (cl.length === 1 && cl[0] === '0'), `${id}: Content-Length ${JSON.stringify(cl)} for an empty body`)
  const host = rawValues(got.rawHeaders, 'host')
  const recordedHost = headerPairs(String(r.headers)).find(([n]) => n.toLowerCase() === 'host')?.[1]
  assert.deepEqual(host, [keepHost && recordedHost !== undefined ? recordedHost : `127.0.0.1:${port}`], `${id}: Host`)
  for (const v of rawValues(got.rawHeaders, 'connection')) assert.match(v, /^(keep-alive|close)$/i, `${id}: Connection is the client's own`)
}

describe('fidelity: the target receives what was recorded', () => {
  for (const base of ['', '/base/path/']) {
    test(`every kind of record into a node:http server${base ? ` under base path ${base}` : ''}`, async (t) => {
      const records = fidelityRecords()
      const dir = await archive(t, records)
      const cap = await capture(t)
      const s = await replay({ paths: [dir], target: cap.origin + base, pacing: { mode: 'concurrency', concurrency: 1 } })
      assert.equal(s.sent, records.length)
      assert.equal(s.answered, records.length, JSON.stringify(s.errors))
      assert.equal(errorsTotal(s), 0)
      assert.equal(cap.received.length, records.length)
      records.forEach((r, i) => assertFaithful(cap.received[i], r, cap.port, base))
    })
  }

  test('absolute-form URI: the path and query are sent byte for byte (no dot-segment normalization)', async (t) => {
    // RFC 9112 3.2.2: a server turns absolute-form into origin-form by taking the path as
    // received; "/a/../b" is a different request target from "/b" for the service.
    const records: RequestRecord[] = [
      { id: 'dots', method: 'GET', uri: 'http://upstream.test/a/../b/./c?q=%2e%2e', headers: 'Host: upstream.test\r\n\r\n' },
      { id: 'origin-dots', method: 'GET', uri: '/a/../b/./c?q=%2e%2e', headers: 'Host: upstream.test\r\n\r\n' },
      { id: 'no-path', method: 'GET', uri: 'http://upstream.test?x=1', headers: 'Host: upstream.test\r\n\r\n' }
    ]
    const dir = await archive(t, records)
    const cap = await capture(t)
    await replay({ paths: [dir], target: cap.origin, pacing: { mode: 'concurrency', concurrency: 1 } })
    assert.deepEqual(cap.received.map(c => c.url), ['/a/../b/./c?q=%2e%2e', '/a/../b/./c?q=%2e%2e', '/?x=1'])
  })

  test('into the preset sink recording into a second directory: records match the originals', async (t) => {
    const records = fidelityRecords()
    const dir = await archive(t, records)
    const dir2 = await tmpDir('dir2')
    t.after(() => rmDir(dir2))
    const app = Fastify() as unknown as FastifyInstance
    t.after(() => app.close())
    await app.register(blackholePreset, { out: dir2, statsIntervalMs: 0 })
    await app.listen({ port: 0, host: '127.0.0.1' })
    const port = (app.server.address() as { port: number }).port
    const s = await replay({ paths: [dir], target: `http://127.0.0.1:${port}/`, pacing: { mode: 'concurrency', concurrency: 1 } })
    assert.equal(s.answered, records.length, JSON.stringify(s))
    assert.deepEqual(s.statuses, { 200: records.length })
    await app.close()
    const got = await readRecords(dir2)
    assert.equal(got.length, records.length)
    records.forEach((r, i) => {
      const g = got[i]
      const id = String(r.id)
      assert.equal(g.method, r.method, `${id}: method`)
      assert.equal(g.uri, expectedPath(String(r.uri)), `${id}: uri`)
      const gotLines = headerPairs(g.headers).filter(([n]) => !NOT_REPLAYED.has(n.toLowerCase()))
      assert.deepEqual(gotLines, expectedHeaderLines(String(r.headers)), `${id}: header lines`)
      assert.ok(Buffer.from(g.body).equals(bodyOf(r)), `${id}: body bytes (${g.body.length} vs ${bodyOf(r).length})`)
      assert.equal(g.bodyTruncated, false, `${id}: the replayed body arrived whole`)
      if (/^X-Request-Id: /m.test(String(r.headers))) assert.equal(g.id, r.id, `${id}: id from X-Request-Id`)
    })
  })
})

describe('library use', () => {
  test('replay into a Fastify instance through inject: the handler sees every request', async (t) => {
    const records = fidelityRecords().filter(r => r.method !== 'PURGE' && r.method !== 'HEAD')
    const dir = await archive(t, records)
    const app = Fastify({ bodyLimit: 16 << 20 })
    t.after(() => app.close())
    app.removeAllContentTypeParsers()
    app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body))
    const seen: Array<{ method: string, url: string, headers: Record<string, unknown>, body: Buffer }> = []
    app.all('/*', async (req, reply) => {
      seen.push({ method: req.method, url: req.url, headers: req.headers, body: (req.body as Buffer | undefined) ?? Buffer.alloc(0) })
      return reply.code(202).send()
    })
    await app.ready()
    const s = await replay({ paths: [dir], inject: app, pacing: { mode: 'concurrency', concurrency: 4 } })
    assert.equal(s.answered, records.length, JSON.stringify(s))
    assert.deepEqual(s.statuses, { 202: records.length })
    assert.equal(seen.length, records.length)
    for (const r of records) {
      const g = seen.find(x => x.url === expectedPath(String(r.uri)) && x.method === r.method)
      assert.ok(g !== undefined, `${String(r.id)} not seen by the handler`)
      assert.ok(g.body.equals(bodyOf(r)), `${String(r.id)}: body`)
      for (const [n, v] of expectedHeaderLines(String(r.headers))) {
        const have = g.headers[n.toLowerCase()]
        const values = Array.isArray(have) ? have : String(have).split(', ')
        assert.ok(values.includes(v) || String(have).includes(v), `${String(r.id)}: header ${n}: ${v} (got ${JSON.stringify(have)})`)
      }
    }
  })

  test('request targets that are not origin-form: "*", a bare path, absolute-form with a fragment; with and without a base path', async () => {
    const recs: RequestRecord[] = [
      { id: 'star', method: 'OPTIONS', uri: '*', headers: 'Host: h\r\n\r\n' },
      { id: 'bare', method: 'GET', uri: 'relative/x?y=1', headers: 'Host: h\r\n\r\n' },
      { id: 'abs-frag', method: 'GET', uri: 'https://h:8443/p?q=1#frag', headers: 'Host: h\r\n\r\n' }
    ]
    const paths = async (target: string): Promise<string[]> => {
      const out: string[] = []
      await replay({
        records: async function * () { for (const r of recs) yield { ...decodedOf(r), file: 'mem', streamOffset: 0, fileOffset: 0 } },
        target,
        dryRun: req => out.push(req.path)
      })
      return out
    }
    assert.deepEqual(await paths('http://127.0.0.1:9/'), ['*', '/relative/x?y=1', '/p?q=1'])
    // `*` stays `*` under a base path too: it is not a path (the engine counts it as invalid).
    assert.deepEqual(await paths('http://127.0.0.1:9/base/'), ['*', '/base/relative/x?y=1', '/base/p?q=1'])
  })

  test('loops read the source once and reuse its records and shaped requests; a partial first loop does not', async () => {
    const recs: RequestRecord[] = Array.from({ length: 5 }, (_, i) => ({ id: `r${i}`, method: 'POST', uri: `/l/${i}`, headers: 'Host: h\r\nX-A: 1\r\n\r\n', body: Buffer.from(`b${i}`) }))
    let reads = 0
    const records = async function * (): AsyncGenerator<ArchiveRecord> {
      reads++
      for (const r of recs) yield { ...decodedOf(r), file: 'mem', streamOffset: 0, fileOffset: 0 }
    }
    const sent: OutgoingRequest[] = []
    const sum = await replay({ records, target: 'http://127.0.0.1:9/', loop: 3, dryRun: req => sent.push(req) })
    assert.equal(reads, 1)
    assert.equal(sum.read, 15)
    assert.deepEqual(sent.map(r => r.path), [0, 1, 2].flatMap(() => recs.map(r => r.uri)))
    assert.equal(sent[0], sent[5], 'the same record is shaped once')
    // A template in a set header depends on the loop: shaped each time.
    const templated: string[] = []
    await replay({ records, target: 'http://127.0.0.1:9/', loop: 2, rewrite: { setHeaders: [['X-Loop', '{loop}']] }, dryRun: req => templated.push(req.headers[req.headers.indexOf('X-Loop') + 1]) })
    assert.deepEqual(templated, ['0', '0', '0', '0', '0', '1', '1', '1', '1', '1'])
    // --limit stops the first loop early: every loop reads again.
    reads = 0
    const limited = await replay({ records, target: 'http://127.0.0.1:9/', loop: 3, limit: 2, dryRun: () => {} })
    assert.equal(reads, 3)
    assert.equal(limited.sent, 6)
  })

  test('records from any async iterable; options are checked', async () => {
    const recs = seriesRecords(3, 10)
    await assert.rejects(replay({ target: 'http://127.0.0.1:1/' }), /paths or records/)
    await assert.rejects(replay({ paths: ['/nonexistent'] }), /target/)
    await assert.rejects(replay({ paths: [], target: 'ftp://127.0.0.1/' }), /http or https/)
    await assert.rejects(replay({ paths: [], target: 'http://127.0.0.1:1/', multiply: 0 }), /multiply/)
    await assert.rejects(replay({ paths: [], target: 'http://127.0.0.1:1/', loop: 1.5 }), /loop/)
    await assert.rejects(replay({ paths: [], target: 'http://127.0.0.1:1/', failStatus: ['abc'] }), /failStatus/)
    const sent: string[] = []
    const s = await replay({
      records: async function * () {
        for (const r of recs) yield { ...decodedOf(r), file: 'mem', streamOffset: 0, fileOffset: 0 }
      },
      dryRun: req => sent.push(`${req.method} ${req.path}`)
    })
    assert.equal(s.sent, 3)
    assert.deepEqual(sent, ['POST /s/0?q=0', 'POST /s/1?q=1', 'POST /s/2?q=2'])
  })
})

function decodedOf (r: RequestRecord): DecodedRequest {
  const body = r.body ?? new Uint8Array(0)
  return {
    id: String(r.id ?? ''),
    method: String(r.method),
    uri: String(r.uri),
    headers: String(r.headers ?? ''),
    body,
    timeNs: r.timeNs ?? 0n,
    remoteAddr: '',
    remotePort: 0,
    httpVersion: '',
    bodyLength: body.length,
    bodyTruncated: false,
    responseStatus: r.responseStatus ?? 0,
    responseTimeNs: 0n
  }
}

describe('pacing', () => {
  for (const n of [1, 4]) {
    test(`concurrency ${n}: never more than ${n} requests in flight at the target`, async (t) => {
      const dir = await archive(t, seriesRecords(48, null))
      const cap = await capture(t, { delayMs: 25 })
      const s = await replay({ paths: [dir], target: cap.origin, pacing: { mode: 'concurrency', concurrency: n } })
      assert.equal(s.answered, 48)
      assert.ok(cap.maxInFlight <= n, `max in flight ${cap.maxInFlight} > ${n}`)
      assert.equal(cap.maxInFlight, n, 'the concurrency is used')
      assert.equal(s.lag, null)
    })
  }

  test('--rate 1000 for 10 s: achieved rate within 2 % (engine summary and arrival times)', async (t) => {
    const dir = await archive(t, seriesRecords(100, null, { bodyBytes: 64 }))
    const attempts: string[] = []
    for (let attempt = 1; attempt <= 2; attempt++) {
      const cap = await CaptureServer.start({ keep: false })
      let s: ReplaySummary
      try {
        s = await replay({ paths: [dir], target: cap.origin, pacing: { mode: 'rate', rate: 1000 }, loop: 100 })
      } finally {
        await cap.close()
      }
      assert.equal(s.sent, 10_000)
      assert.equal(s.answered, 10_000, JSON.stringify(s.errors))
      assert.equal(cap.count, 10_000)
      const engineRate = s.sent / (s.durationMs / 1000)
      const arrivalRate = (cap.count - 1) / (cap.arrivalSpanMs() / 1000)
      const ok = Math.abs(engineRate - 1000) <= 20 && Math.abs(arrivalRate - 1000) <= 20
      attempts.push(`attempt ${attempt}: engine ${engineRate.toFixed(1)} req/s over ${s.durationMs.toFixed(0)} ms, arrivals ${arrivalRate.toFixed(1)} req/s over ${cap.arrivalSpanMs().toFixed(0)} ms, lag ${JSON.stringify(s.lag)}`)
      assert.ok(s.lag !== null, 'rate pacing reports schedule lag')
      if (ok) {
        t.diagnostic(attempts.join('; '))
        return
      }
    }
    assert.fail(`rate off by more than 2 %: ${attempts.join('; ')}`)
  })

  test('--speed 2 halves the recorded span (within 5 %)', async (t) => {
    // 200 records 20 ms apart: 3.98 s recorded, 1.99 s replayed.
    const dir = await archive(t, seriesRecords(200, 20, { bodyBytes: 0, method: 'GET' }))
    const expected = 199 * 20 / 2
    const attempts: string[] = []
    for (let attempt = 1; attempt <= 2; attempt++) {
      const cap = await CaptureServer.start({ keep: false })
      let s: ReplaySummary
      try {
        s = await replay({ paths: [dir], target: cap.origin, pacing: { mode: 'speed', speed: 2 } })
      } finally {
        await cap.close()
      }
      assert.equal(cap.count, 200)
      const span = cap.arrivalSpanMs()
      attempts.push(`attempt ${attempt}: arrivals span ${span.toFixed(1)} ms (expected ${expected}), engine ${s.durationMs.toFixed(1)} ms, lag ${JSON.stringify(s.lag)}`)
      if (Math.abs(span - expected) <= expected * 0.05 && Math.abs(s.durationMs - expected) <= expected * 0.05 + 50) {
        t.diagnostic(attempts.join('; '))
        return
      }
    }
    assert.fail(`speed 2 span off by more than 5 %: ${attempts.join('; ')}`)
  })

  test('--speed with --multiply keeps the schedule: N times the requests over the same span', async (t) => {
    const dir = await archive(t, seriesRecords(50, 20, { bodyBytes: 0, method: 'GET' }))
    const cap = await capture(t, { keep: false })
    const s = await replay({ paths: [dir], target: cap.origin, pacing: { mode: 'speed', speed: 2 }, multiply: 3 })
    assert.equal(s.sent, 150)
    assert.equal(cap.count, 150)
    const expected = 49 * 20 / 2
    assert.ok(Math.abs(cap.arrivalSpanMs() - expected) <= expected * 0.2, `span ${cap.arrivalSpanMs()} ms, expected about ${expected}`)
  })

  test('--max-wait clamps a long recorded gap', async (t) => {
    const recs = seriesRecords(4, 10, { bodyBytes: 0, method: 'GET' })
    recs[2].timeNs = (recs[1].timeNs as bigint) + 60_000n * MS_NS // a minute of silence
    recs[3].timeNs = (recs[2].timeNs as bigint) + 10n * MS_NS
    const dir = await archive(t, recs)
    const cap = await capture(t)
    const s = await replay({ paths: [dir], target: cap.origin, pacing: { mode: 'speed', speed: 1, maxWaitMs: 100 } })
    assert.equal(cap.count, 4)
    const span = cap.arrivalSpanMs()
    assert.ok(span >= 110 && span < 1500, `span ${span} ms: 10 + 100 (clamped) + 10 expected`)
    assert.ok(s.durationMs < 5000)
  })

  test('speed pacing on records without arrival times fails with a clear error, nothing sent', async (t) => {
    const dir = await archive(t, seriesRecords(3, null))
    const cap = await capture(t)
    await assert.rejects(replay({ paths: [dir], target: cap.origin, pacing: { mode: 'speed', speed: 1 } }), (err: Error) => {
      assert.match(err.message, /no arrival time/)
      assert.match(err.message, /rate or concurrency/)
      return true
    })
    assert.equal(cap.count, 0)
  })

  test('--loop 3 --multiply 4: exact counts, copies told apart by {n} {copy} {loop} {id}', async (t) => {
    const dir = await archive(t, seriesRecords(5, 5))
    for (const pacing of [{ mode: 'concurrency', concurrency: 8 }, { mode: 'rate', rate: 2000 }, { mode: 'speed', speed: 10 }] as const) {
      const cap = await CaptureServer.start()
      try {
        const s = await replay({
          paths: [dir],
          target: cap.origin,
          pacing,
          loop: 3,
          multiply: 4,
          rewrite: { setHeaders: [['X-Replay', '{id}|{copy}|{loop}|{n}'], ['X-Static', 'no braces']] }
        })
        assert.equal(s.matched, 15, pacing.mode)
        assert.equal(s.sent, 60, pacing.mode)
        assert.equal(s.answered, 60, pacing.mode)
        assert.equal(cap.count, 60, pacing.mode)
        const tags = cap.received.map(c => rawValues(c.rawHeaders, 'x-replay'))
        assert.ok(tags.every(v => v.length === 1), 'one X-Replay header each')
        const parts = tags.map(v => v[0].split('|'))
        assert.equal(new Set(tags.map(v => v[0])).size, 60, 'every copy distinguishable')
        assert.deepEqual(parts.map(p => Number(p[3])).sort((a, b) => a - b), Array.from({ length: 60 }, (_, i) => i + 1), '{n} counts 1..60')
        for (let i = 0; i < 5; i++) {
          const mine = parts.filter(p => p[0] === `s-${i}`)
          assert.equal(mine.length, 12, `s-${i} sent loop x multiply times`)
          assert.deepEqual(new Set(mine.map(p => `${p[1]}/${p[2]}`)).size, 12)
          assert.deepEqual([...new Set(mine.map(p => p[1]))].sort(), ['0', '1', '2', '3'])
          assert.deepEqual([...new Set(mine.map(p => p[2]))].sort(), ['0', '1', '2'])
        }
        assert.ok(cap.received.every(c => rawValues(c.rawHeaders, 'x-static')[0] === 'no braces'))
        // The header names the request URI it came with.
        for (const c of cap.received) assert.equal(c.url.split('?')[0].slice(1).replace('/', '-'), rawValues(c.rawHeaders, 'x-replay')[0].split('|')[0])
      } finally {
        await cap.close()
      }
    }
  })

  test('--duration stops in time (looping the set meanwhile)', async (t) => {
    const dir = await archive(t, seriesRecords(20, 1))
    const cap = await capture(t, { delayMs: 5, keep: false })
    const s = await replay({ paths: [dir], target: cap.origin, pacing: { mode: 'concurrency', concurrency: 4 }, durationMs: 1000 })
    assert.ok(s.durationMs >= 1000 && s.durationMs < 2500, `concurrency: ran ${s.durationMs} ms for a 1000 ms duration`)
    assert.ok(s.sent > 20, `looped: ${s.sent} sent`)
    assert.equal(s.stopped, false)
    assert.equal(cap.count, s.sent)

    const cap2 = await capture(t, { keep: false })
    const s2 = await replay({ paths: [dir], target: cap2.origin, pacing: { mode: 'rate', rate: 200 }, durationMs: 1000 })
    assert.ok(s2.durationMs >= 990 && s2.durationMs < 2500, `rate: ran ${s2.durationMs} ms`)
    assert.ok(s2.sent >= 180 && s2.sent <= 202, `rate 200 for 1 s sent ${s2.sent}`)
  })

  test('stopping early (duration, abort) closes the archive files being read', async (t) => {
    // Descriptors of this process open on files under `dir`.
    const openIn = (dir: string): string[] | null => {
      let list: string[]
      try {
        list = readdirSync('/proc/self/fd')
      } catch {
        return null
      }
      const out: string[] = []
      for (const fd of list) {
        try {
          const target = readlinkSync(`/proc/self/fd/${fd}`)
          if (target.startsWith(dir + '/')) out.push(target)
        } catch {
          // closed meanwhile
        }
      }
      return out
    }
    if (openIn('/') === null) {
      t.skip('no /proc/self/fd on this system')
      return
    }
    // Big enough that a run stopped after 150 ms is in the middle of the file.
    const dir = await tmpDir('fds')
    t.after(() => rmDir(dir))
    await writeRecords(path.join(dir, 'src'), seriesRecords(20_000, null, { bodyBytes: 200 }))
    const cap = await capture(t, { keep: false })
    const runs: Array<[string, () => Partial<ReplayOptions>]> = [
      ['concurrency + duration', () => ({ pacing: { mode: 'concurrency', concurrency: 4 }, durationMs: 150 })],
      ['concurrency + abort', () => ({ pacing: { mode: 'concurrency', concurrency: 4 }, signal: AbortSignal.timeout(150) })],
      ['rate + duration', () => ({ pacing: { mode: 'rate', rate: 2000 }, durationMs: 150 })],
      ['rate + abort', () => ({ pacing: { mode: 'rate', rate: 2000 }, signal: AbortSignal.timeout(150) })]
    ]
    const leaks: string[] = []
    for (const [name, o] of runs) {
      for (let round = 0; round < 3; round++) {
        // A copy per run: a descriptor another run left for the GC cannot be counted twice.
        const copy = path.join(dir, `copy-${leaks.length}-${name.replace(/\W+/g, '-')}-${round}`)
        cpSync(path.join(dir, 'src'), copy, { recursive: true })
        const s = await replay({ paths: [copy], target: cap.origin, ...o() })
        await sleep(20)
        assert.ok(s.sent > 0 && s.sent < 20_000, `${name}: sent ${s.sent}`)
        const open = openIn(copy) ?? []
        if (open.length > 0) leaks.push(`${name} (run ${round + 1}): ${open.length} descriptor(s) still open on ${open.map(f => path.basename(f)).join(', ')}`)
      }
    }
    assert.deepEqual(leaks, [], 'file descriptors left open after replay() returned')
  })

  test('an abort signal stops sending and marks the summary stopped', async (t) => {
    const dir = await archive(t, seriesRecords(50, 1))
    const cap = await capture(t)
    const ac = new AbortController()
    const p = replay({ paths: [dir], target: cap.origin, pacing: { mode: 'rate', rate: 100 }, signal: ac.signal })
    await cap.waitForCount(5)
    ac.abort()
    const s = await p
    assert.equal(s.stopped, true)
    assert.ok(s.sent < 50 && s.sent >= 5, `sent ${s.sent}`)
    await sleep(100)
    assert.equal(cap.count, s.sent)
  })
})

describe('filters and rewrites', () => {
  const METHODS = ['GET', 'POST', 'PUT', 'DELETE']
  function filterRecords (): RequestRecord[] {
    return Array.from({ length: 12 }, (_, i) => ({
      id: `f-${i}`,
      method: METHODS[i % 4],
      uri: i % 3 === 0 ? `/api/v1/items/${i}` : i % 3 === 1 ? `/static/${i}.css` : `/api/v2/users/${i}?q=${i}`,
      headers: `Host: recorded.example\r\nX-Tenant: ${i % 2 === 1 ? 'acme' : 'globex'}\r\n${i % 5 === 0 ? `Authorization: Bearer t${i}\r\n` : ''}Content-Type: application/json\r\n\r\n`,
      body: Buffer.from(`{"i":${i}}`),
      timeNs: T0_NS + BigInt(i) * 1000n * MS_NS
    }))
  }
  const idx = (cap: CaptureServer): number[] => cap.received.map(c => Number(/\/(\d+)/.exec(c.url)?.[1])).sort((a, b) => a - b)
  const range = (pred: (i: number) => boolean): number[] => Array.from({ length: 12 }, (_, i) => i).filter(pred)

  const cases: Array<[string, Partial<ReplayOptions>, number[]]> = [
    ['methods (any case)', { filter: { methods: ['post', 'DELETE'] } }, range(i => i % 4 === 1 || i % 4 === 3)],
    ['path regex', { filter: { path: /^\/api\/v\d\// } }, range(i => i % 3 !== 1)],
    ['path regex on the query', { filter: { path: /\?q=1\d$/ } }, [11]],
    ['header regex (name in any case)', { filter: { headers: [['x-TENANT', /^acme$/]] } }, range(i => i % 2 === 1)],
    ['two header regexes: both must match', { filter: { headers: [['X-Tenant', /acme/], ['authorization', /^Bearer /]] } }, [5]],
    ['since (inclusive) / until (exclusive)', { filter: { sinceNs: T0_NS + 3000n * MS_NS, untilNs: T0_NS + 7000n * MS_NS } }, [3, 4, 5, 6]],
    ['ids', { filter: { ids: ['f-2', 'f-9', 'no-such-id'] } }, [2, 9]],
    ['limit', { limit: 5 }, [0, 1, 2, 3, 4]],
    ['limit counts matching records only', { filter: { methods: ['GET'] }, limit: 2 }, [0, 4]],
    ['limit per loop', { limit: 2, loop: 2 }, [0, 0, 1, 1]],
    ['filters combined', { filter: { methods: ['GET', 'PUT'], path: /^\/api\//, sinceNs: T0_NS + 1n } }, [2, 6, 8]]
  ]
  for (const [name, opts, expected] of cases) {
    test(name, async (t) => {
      const dir = await archive(t, filterRecords())
      const cap = await capture(t)
      const s = await replay({ paths: [dir], target: cap.origin, pacing: { mode: 'concurrency', concurrency: 4 }, ...opts })
      assert.deepEqual(idx(cap), expected)
      assert.equal(s.sent, expected.length)
    })
  }

  test('sample: the fraction asked, the same records for the same seed, each loop the same', async (t) => {
    const dir = await archive(t, seriesRecords(400, null, { bodyBytes: 0, method: 'GET' }))
    const run = async (seed: number, loop = 1): Promise<string[]> => {
      const sent: string[] = []
      await replay({ paths: [dir], filter: { sample: 0.25, seed }, loop, dryRun: r => sent.push(r.path) })
      return sent
    }
    const a = await run(7)
    const b = await run(7)
    const c = await run(8)
    assert.ok(a.length >= 60 && a.length <= 140, `sample 0.25 of 400 kept ${a.length}`)
    assert.deepEqual(a, b, 'same seed, same records')
    assert.notDeepEqual(a, c, 'another seed, other records')
    const twice = await run(7, 2)
    assert.deepEqual(twice, [...a, ...a], 'each loop picks the same records')
    const all: string[] = []
    await replay({ paths: [dir], filter: { sample: 1 }, dryRun: r => all.push(r.path) })
    assert.equal(all.length, 400)
    const none: string[] = []
    await replay({ paths: [dir], filter: { sample: 0 }, dryRun: r => none.push(r.path) })
    assert.equal(none.length, 0)
  })

  test('set-header replaces recorded ones (any case) and appends; remove-header (any case)', async (t) => {
    const dir = await archive(t, filterRecords().slice(0, 6))
    const cap = await capture(t)
    await replay({
      paths: [dir],
      target: cap.origin,
      pacing: { mode: 'concurrency', concurrency: 1 },
      rewrite: { setHeaders: [['X-Env', 'replay'], ['x-tenant', 'override']], removeHeaders: ['AUTHORIZATION', 'content-TYPE'] }
    })
    assert.equal(cap.count, 6)
    for (const c of cap.received) {
      assert.deepEqual(receivedHeaderLines(c.rawHeaders), [['X-Env', 'replay'], ['x-tenant', 'override']], c.url)
    }
  })

  test('rewrite-path: regexes applied in order to path and query, before the base path', async (t) => {
    const dir = await archive(t, filterRecords().slice(0, 3))
    const cap = await capture(t)
    await replay({
      paths: [dir],
      target: cap.origin + '/base',
      pacing: { mode: 'concurrency', concurrency: 1 },
      rewrite: { rewritePath: [[/^\/api\/v1\//, '/api/v9/'], [/q=(\d+)/, 'query=$1&x=1'], [/^\/static\//, '/assets/']] }
    })
    assert.deepEqual(cap.received.map(c => c.url), ['/base/api/v9/items/0', '/base/assets/1.css', '/base/api/v2/users/2?query=2&x=1'])
  })

  test('keep-host sends the recorded Host; without it the target\'s', async (t) => {
    const records = fidelityRecords().filter(r => ['text', 'absolute', 'h2', 'FH-1700000000123456789-42'].includes(String(r.id)))
    const dir = await archive(t, records)
    const cap = await capture(t)
    await replay({ paths: [dir], target: cap.origin, pacing: { mode: 'concurrency', concurrency: 1 }, rewrite: { keepHost: true } })
    assert.deepEqual(cap.received.map(c => rawValues(c.rawHeaders, 'host')), [['recorded.example'], ['example.test'], ['upstream.test:8080'], [`127.0.0.1:${cap.port}`]])
    records.forEach((r, i) => assertFaithful(cap.received[i], r, cap.port, '', true))
    cap.reset()
    await replay({ paths: [dir], target: cap.origin, pacing: { mode: 'concurrency', concurrency: 1 } })
    assert.ok(cap.received.every(c => rawValues(c.rawHeaders, 'host')[0] === `127.0.0.1:${cap.port}`))
  })
})

describe('errors and statuses', () => {
  test('a damaged archive: the records before the damage are sent, then the error surfaces', async (t) => {
    const dir = await tmpDir('damaged')
    t.after(() => rmDir(dir))
    // About 2 MiB of records: two 1 MiB batches, two LZ4 blocks; cut inside the second.
    const [file] = await writeRecords(dir, seriesRecords(2000, 1, { bodyBytes: 1000 }).map(r => ({ ...r, body: noise(1000, Number(String(r.id).slice(2))) })))
    truncateSync(file, Math.floor(statSync(file).size * 0.75))
    for (const pacing of [{ mode: 'concurrency', concurrency: 4 }, { mode: 'rate', rate: 20_000 }] as const) {
      const cap = await CaptureServer.start({ keep: false })
      try {
        await assert.rejects(replay({ paths: [dir], target: cap.origin, pacing }), (err: Error) => {
          assert.ok(err instanceof ArchiveError, `${pacing.mode}: ${err.name}: ${err.message}`)
          assert.ok(err.message.includes(path.basename(file)), err.message)
          return true
        })
        assert.ok(cap.count > 0 && cap.count < 2000, `${pacing.mode}: ${cap.count} sent before the damage`)
      } finally {
        await cap.close()
      }
    }
  })

  test('a target refusing connections: errors.connect', async (t) => {
    const dir = await archive(t, seriesRecords(5, null))
    const port = await closedPort()
    const s = await replay({ paths: [dir], target: `http://127.0.0.1:${port}/`, pacing: { mode: 'concurrency', concurrency: 2 } })
    assert.equal(s.sent, 5)
    assert.equal(s.answered, 0)
    assertErrors(s, { connect: 5 })
    assert.equal(s.failed, 5)
  })

  test('a target resetting the connection: errors.reset', async (t) => {
    const dir = await archive(t, seriesRecords(5, null))
    const cap = await capture(t, { behavior: 'reset' })
    const s = await replay({ paths: [dir], target: cap.origin, pacing: { mode: 'concurrency', concurrency: 2 } })
    assert.equal(s.answered, 0)
    assertErrors(s, { reset: 5 })
    assert.equal(s.failed, 5)
    assert.equal(cap.count, 5, 'each request reached the target once (no silent retry)')
  })

  test('a slow target and a small timeout: errors.timeout, in about the timeout', async (t) => {
    const dir = await archive(t, seriesRecords(3, null))
    const cap = await capture(t, { delayMs: 5000 })
    const s = await replay({ paths: [dir], target: cap.origin, pacing: { mode: 'concurrency', concurrency: 3 }, timeoutMs: 300 })
    assertErrors(s, { timeout: 3 })
    assert.equal(s.failed, 3)
    assert.ok(s.durationMs < 3000, `took ${s.durationMs} ms`)
  })

  test('5xx answers are counted in failedStatus; failStatus lists codes, classes or none', async (t) => {
    const dir = await archive(t, seriesRecords(6, null))
    const cap = await capture(t, { status: c => (Number(/\/(\d+)/.exec(c.url)?.[1]) % 2 === 0 ? 503 : 404) })
    const run = (failStatus?: string[]): Promise<ReplaySummary> => replay({ paths: [dir], target: cap.origin, ...(failStatus ? { failStatus } : {}) })
    const s = await run()
    assert.deepEqual(s.statuses, { 404: 3, 503: 3 })
    assert.equal(s.answered, 6)
    assert.equal(s.failedStatus, 3)
    assert.equal(s.failed, 3)
    assert.equal(errorsTotal(s), 0)
    assert.equal((await run(['404'])).failedStatus, 3)
    assert.equal((await run(['4xx', '503'])).failedStatus, 6)
    assert.equal((await run(['none'])).failedStatus, 0)
  })

  test('status mismatch: replies compared with the recorded response status', async (t) => {
    const recs = seriesRecords(6, null, { status: 200 })
    recs.push(...seriesRecords(2, null, { prefix: 'norec' })) // no recorded status: not compared
    const dir = await archive(t, recs)
    const cap = await capture(t, { status: c => (/\/s\/[135]\?/.test(c.url) ? 404 : 200) })
    const s = await replay({ paths: [dir], target: cap.origin })
    assert.equal(s.answered, 8)
    assert.equal(s.compared, 6)
    assert.equal(s.mismatched, 3)
    assert.equal(s.failed, 0, '404 is not a failure by default')
    assert.deepEqual(s.statuses, { 200: 5, 404: 3 })
  })

  test('latency and achieved rate are reported', async (t) => {
    const dir = await archive(t, seriesRecords(20, null))
    const cap = await capture(t, { delayMs: 20 })
    const s = await replay({ paths: [dir], target: cap.origin, pacing: { mode: 'concurrency', concurrency: 5 } })
    assert.ok(s.latency.p50 >= 19, `p50 ${s.latency.p50} ms with a 20 ms server`)
    assert.ok(s.latency.p50 <= s.latency.p90 && s.latency.p90 <= s.latency.p99 && s.latency.p99 <= s.latency.p999)
    assert.ok(s.achievedRate > 0 && s.achievedRate <= 5 * 1000 / 19)
  })

  test('latency percentiles never exceed the maximum', async (t) => {
    // One request: every percentile is that request's latency, and so is the maximum.
    const dir = await archive(t, seriesRecords(1, null))
    const cap = await capture(t, { delayMs: 37 })
    const s = await replay({ paths: [dir], target: cap.origin })
    const { p50, p90, p99, p999, max } = s.latency
    assert.ok(p50 <= max && p90 <= max && p99 <= max && p999 <= max, `p50 ${p50} p90 ${p90} p99 ${p99} p99.9 ${p999} > max ${max}`)
  })
})
