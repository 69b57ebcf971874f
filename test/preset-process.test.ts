// The preset sink as a real process: `blackhole serve` (one process, or a cluster of workers)
// and `fastify start` with fastify-cli, driven by real clients (curl, wrk, node:http), stopped
// with SIGTERM. After each stop the archive directory must hold only sealed files, and the
// records must be exactly the requests sent.
import { test, describe, after } from 'node:test'
import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import http from 'node:http'
import path from 'node:path'
import type { TestContext } from 'node:test'
import {
  BANNER_END, cleanEnv, dumpJson, fastifyCliBin, freePort, headerLines, isArchive, isTmp, listDir, noise, pidOfFile,
  PRESET_APP, Proc, readRecords, request, rmDir, runCli, sleep, startLoad, startServe, stopAll, tmpDir, waitForPort, CLI
} from './fixtures-preset.js'
import { requireTool } from './tools.js'

after(stopAll)

/** Per-test cleanups, run last-in first-out: processes stop before their directory goes. */
const cleanups = new WeakMap<TestContext, Array<() => Promise<unknown>>>()

function onCleanup (t: TestContext, fn: () => Promise<unknown>): void {
  let list = cleanups.get(t)
  if (list === undefined) {
    const fns: Array<() => Promise<unknown>> = []
    list = fns
    cleanups.set(t, fns)
    t.after(async () => {
      for (const f of fns.reverse()) await f().catch(() => {})
    })
  }
  list.push(fn)
}

/** A temp dir removed after the test. */
async function scratch (t: TestContext, tag: string): Promise<string> {
  const d = await tmpDir(tag)
  onCleanup(t, () => rmDir(d))
  return d
}

/** A process stopped (by PID) after the test, whatever happens. */
function track<T extends { proc: Proc } | Proc> (t: TestContext, p: T): T {
  const proc = p instanceof Proc ? p : p.proc
  onCleanup(t, () => proc.stop(5000))
  return p
}

async function assertNoTmp (dir: string): Promise<void> {
  const names = await listDir(dir)
  assert.deepEqual(names.filter(isTmp), [], `.tmp files left in ${dir}: ${names.join(' ')}`)
}

async function assertCleanExit (proc: Proc, timeoutMs = 20_000): Promise<void> {
  const exit = await proc.waitExit(timeoutMs)
  assert.deepEqual(exit, { code: 0, signal: null }, `exit ${JSON.stringify(exit)}\n${proc.output}`)
}

/** Runs a command to its end, with a time bound. */
async function run (cmd: string, args: string[], timeoutMs = 30_000): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const p = new Proc(cmd, args)
  const exit = await p.waitExit(timeoutMs)
  return { code: exit.code, stdout: p.stdout, stderr: p.stderr }
}

describe('blackhole serve: banner and stats', () => {
  test('the banner says where it listens, where it writes and how to stop; SIGTERM exits 0', async t => {
    const dir = await scratch(t, 'pp-banner')
    const out = path.join(dir, 'archive')
    const s = track(t, await startServe(['--out', out]))
    assert.match(s.proc.stdout, new RegExp(`^blackhole: listening on http://127\\.0\\.0\\.1:${s.port}$`, 'm'))
    assert.ok(s.proc.stdout.includes(`blackhole: recording into ${out}\n`), s.proc.output)
    assert.match(s.proc.stdout, /^blackhole: stop with Ctrl-C or SIGTERM/m)
    assert.equal((await request(s.port, { path: '/hello' })).status, 200)
    s.proc.signal('SIGTERM')
    await assertCleanExit(s.proc)
    await assertNoTmp(out)
    assert.deepEqual((await readRecords(out)).map(r => `${r.method} ${r.uri}`), ['GET /hello'])
  })

  test('--no-record: the banner says so, every request gets 200, no archive file is written', async t => {
    const dir = await scratch(t, 'pp-norecord')
    const out = path.join(dir, 'archive')
    const s = track(t, await startServe(['--no-record', '--out', out]))
    assert.match(s.proc.stdout, /not recording/)
    assert.doesNotMatch(s.proc.stdout, /recording into/)
    for (let i = 0; i < 20; i++) {
      const r = await request(s.port, { method: i % 2 === 0 ? 'POST' : 'PUT', path: `/nr/${i}`, body: noise(500, i) })
      assert.equal(r.status, 200)
    }
    const stats = JSON.parse((await request(s.port, { path: '/_blackhole/stats' })).body.toString())
    assert.equal(stats.recording, false)
    assert.equal(stats.sink.requests, 20)
    s.proc.signal('SIGTERM')
    await assertCleanExit(s.proc)
    assert.deepEqual(await listDir(out), [])
  })

  test('--port 0: the banner shows the port actually bound', async t => {
    const dir = await scratch(t, 'pp-port0')
    const proc = track(t, new Proc(process.execPath, [CLI, 'serve', '--host', '127.0.0.1', '--port', '0', '--stats-interval', '0', '--out', dir]))
    await proc.waitForStdout(BANNER_END)
    // Fastify's log line goes through pino's asynchronous stream: it may come after the banner.
    await proc.waitForStdout(/Server listening at/)
    const bound = /Server listening at http:\/\/127\.0\.0\.1:(\d+)/.exec(proc.stdout)
    assert.ok(bound !== null, `no 'Server listening at' log line\n${proc.output}`)
    assert.equal((await request(Number(bound[1]), { path: '/p0' })).status, 200)
    const banner = /blackhole: listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(proc.stdout)
    assert.ok(banner !== null, proc.output)
    assert.equal(banner[1], bound[1], `banner port ${banner[1]} differs from the bound port ${bound[1]}`)
  })

  test('--stats-interval prints a stats line with request and archive figures', async t => {
    const dir = await scratch(t, 'pp-stats')
    const port = await freePort()
    const proc = track(t, new Proc(process.execPath, [CLI, 'serve', '--host', '127.0.0.1', '--port', String(port), '--stats-interval', '200ms', '--out', dir]))
    await proc.waitForStdout(BANNER_END)
    for (let i = 0; i < 10; i++) await request(port, { method: 'POST', path: `/st/${i}`, body: 'x' })
    const m = await proc.waitForStdout(/^\{.*"blackhole stats".*\}$/m, 10_000)
    const line = JSON.parse(m[0])
    for (const k of ['reqPerSec', 'mbInPerSec', 'tooLarge', 'recordedPerSec', 'mbOutPerSec', 'compression', 'dropped', 'errors', 'files']) {
      assert.ok(k in line.stats, `stats line lacks ${k}: ${m[0]}`)
    }
  })
})

describe('blackhole serve: real clients, then dump --json shows each request exactly as sent', () => {
  test('curl: chunked upload, Expect: 100-continue, binary body, odd methods, 8 KB URL, 200 headers', async t => {
    if (!requireTool(t, 'curl')) return
    const dir = await scratch(t, 'pp-curl')
    const out = path.join(dir, 'archive')
    const files = {
      chunk: path.join(dir, 'chunk.txt'),
      big: path.join(dir, 'big.bin'),
      random: path.join(dir, 'random.bin')
    }
    const data = {
      chunk: Buffer.from(Array.from({ length: 4000 }, (_, i) => `line ${i}\n`).join('')),
      big: noise(2 << 20, 11),
      random: noise(256 << 10, 12)
    }
    for (const k of ['chunk', 'big', 'random'] as const) await writeFile(files[k], data[k])
    const s = track(t, await startServe(['--out', out]))
    const base = s.base
    const longQuery = 'q=' + 'x'.repeat(8192)
    const manyHeaders = Array.from({ length: 200 }, (_, i) => [`X-Hdr-${String(i).padStart(3, '0')}`, `value-${i}`] as [string, string])
    const curls: Array<{ uri: string, args: string[] }> = [
      { uri: '/curl/chunked', args: ['-H', 'Transfer-Encoding: chunked', '-H', 'Content-Type: text/plain', '--data-binary', `@${files.chunk}`] },
      { uri: '/curl/expect', args: ['-H', 'Expect: 100-continue', '-H', 'Content-Type: application/octet-stream', '--data-binary', `@${files.big}`] },
      { uri: '/curl/binary?kind=bin', args: ['-X', 'PUT', '-H', 'Content-Type: application/octet-stream', '--data-binary', `@${files.random}`] },
      { uri: '/curl/propfind', args: ['-X', 'PROPFIND', '-H', 'Depth: 1', '-H', 'Content-Type: application/xml', '--data-binary', '<?xml version="1.0"?><propfind xmlns="DAV:"><allprop/></propfind>'] },
      { uri: '/curl/purge', args: ['-X', 'PURGE'] },
      { uri: `/curl/long?${longQuery}`, args: [] },
      { uri: '/curl/headers', args: [...manyHeaders.flatMap(([n, v]) => ['-H', `${n}: ${v}`]), '-H', 'X-Mixed-CASE: MiXeD vAlUe'] }
    ]
    for (const c of curls) {
      const r = await run('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '20', ...c.args, base + c.uri])
      assert.equal(r.code, 0, `curl ${c.uri}: ${r.stderr}`)
      assert.equal(r.stdout, '200', `curl ${c.uri}: status ${r.stdout}`)
    }
    s.proc.signal('SIGTERM')
    await assertCleanExit(s.proc)
    await assertNoTmp(out)

    const records = await dumpJson(out)
    assert.equal(records.length, curls.length, records.map(r => r.uri.slice(0, 60)).join(' '))
    const rec = (uri: string): typeof records[number] => {
      const found = records.filter(r => r.uri === uri)
      assert.equal(found.length, 1, `records for ${uri.slice(0, 60)}: ${found.length}`)
      return found[0]
    }
    const headersOf = (uri: string): Array<[string, string]> => headerLines(rec(uri).headers)
    const has = (uri: string, name: string, value: string): void => {
      assert.ok(headersOf(uri).some(([n, v]) => n === name && v === value), `${uri.slice(0, 40)}: no '${name}: ${value}' in\n${rec(uri).headers.slice(0, 500)}`)
    }
    const body = (uri: string): Buffer => Buffer.from(rec(uri).body, 'base64')

    assert.equal(rec('/curl/chunked').method, 'POST')
    assert.ok(body('/curl/chunked').equals(data.chunk), 'chunked body')
    has('/curl/chunked', 'Transfer-Encoding', 'chunked')
    assert.ok(!headersOf('/curl/chunked').some(([n]) => n.toLowerCase() === 'content-length'), 'a chunked upload has no Content-Length')

    assert.equal(rec('/curl/expect').method, 'POST')
    assert.ok(body('/curl/expect').equals(data.big), 'Expect: 100-continue body')
    has('/curl/expect', 'Expect', '100-continue')
    has('/curl/expect', 'Content-Length', String(data.big.length))
    assert.equal(rec('/curl/expect').bodyTruncated, false)

    assert.equal(rec('/curl/binary?kind=bin').method, 'PUT')
    assert.ok(body('/curl/binary?kind=bin').equals(data.random), 'binary body')
    has('/curl/binary?kind=bin', 'Content-Type', 'application/octet-stream')

    assert.equal(rec('/curl/propfind').method, 'PROPFIND')
    assert.equal(body('/curl/propfind').toString(), '<?xml version="1.0"?><propfind xmlns="DAV:"><allprop/></propfind>')
    has('/curl/propfind', 'Depth', '1')

    assert.equal(rec('/curl/purge').method, 'PURGE')
    assert.equal(body('/curl/purge').length, 0)

    assert.equal(rec(`/curl/long?${longQuery}`).method, 'GET')

    const hs = headersOf('/curl/headers')
    const custom = hs.filter(([n]) => n.startsWith('X-Hdr-'))
    assert.deepEqual(custom, manyHeaders, 'the 200 headers, in order, with their case')
    has('/curl/headers', 'X-Mixed-CASE', 'MiXeD vAlUe')
    for (const r of records) {
      assert.ok(headerLines(r.headers).some(([n, v]) => n === 'Host' && v === `127.0.0.1:${s.port}`), `${r.uri.slice(0, 40)}: Host header`)
      assert.ok(r.headers.endsWith('\r\n\r\n'))
      assert.equal(r.remoteAddr, '127.0.0.1')
      assert.equal(r.httpVersion, '1.1')
    }
  })
})

describe('blackhole serve: SIGTERM under load', () => {
  test('node client, 16 keep-alive loops: every request answered 200 is in the sealed archive, exit 0, no .tmp', async t => {
    const dir = await scratch(t, 'pp-load')
    const s = track(t, await startServe(['--out', dir]))
    const agent = new http.Agent({ keepAlive: true, maxSockets: 16 })
    onCleanup(t, async () => agent.destroy())
    const payload = Buffer.from('{"load":"' + 'p'.repeat(200) + '"}')
    const load = startLoad(s.port, { concurrency: 16, maxRequests: 500_000, durationMs: 15_000, body: payload, agent })
    onCleanup(t, async () => load.stop())
    // About a second of load (and at least some answers), then SIGTERM while it continues.
    const t0 = Date.now()
    while ((Date.now() - t0 < 1000 || load.result.ok < 100) && Date.now() - t0 < 8000) await sleep(20)
    const okAtSignal = load.result.ok
    s.proc.signal('SIGTERM')
    await assertCleanExit(s.proc)
    load.stop()
    const res = await load.done
    t.diagnostic(`answered 200 before SIGTERM: ${okAtSignal}; in all: sent ${res.sent}, 200 ${res.ok}, other ${JSON.stringify(res.statuses)}, errors ${res.errors}`)
    assert.ok(okAtSignal > 0, 'no request answered before SIGTERM')
    await assertNoTmp(dir)
    const records = await readRecords(dir)
    t.diagnostic(`records ${records.length}`)
    const uris = records.map(r => r.uri)
    assert.equal(new Set(uris).size, uris.length, 'a request recorded twice')
    const recorded = new Set(uris)
    const missing = [...res.okPaths].filter(p => !recorded.has(p))
    assert.deepEqual(missing.slice(0, 10), [], `${missing.length} requests answered 200 are not in the archive (ok ${res.ok}, records ${records.length})`)
    assert.ok(records.length >= res.ok, `records ${records.length} < answered ${res.ok}`)
    assert.ok(records.length <= res.sent, `records ${records.length} > sent ${res.sent}`)
    for (const r of records) {
      assert.equal(r.method, 'POST')
      assert.ok(Buffer.from(r.body).equals(payload), `${r.uri}: body`)
    }
  })

  test('wrk -t1 -c16 -d3s with a POST script: records >= 200 responses, exit 0, no .tmp', async t => {
    if (!requireTool(t, 'wrk')) return
    const dir = await scratch(t, 'pp-wrk')
    const out = path.join(dir, 'archive')
    const script = path.join(dir, 'post.lua')
    await writeFile(script, [
      'wrk.method = "POST"',
      'wrk.body = "{\\"wrk\\":\\"' + 'w'.repeat(100) + '\\"}"',
      'wrk.headers["Content-Type"] = "application/json"',
      ''
    ].join('\n'))
    const s = track(t, await startServe(['--out', out]))
    const wrk = track(t, new Proc('wrk', ['-t1', '-c16', '-d3s', '-s', script, `${s.base}/wrk`]))
    await sleep(1000)
    s.proc.signal('SIGTERM')
    await assertCleanExit(s.proc)
    const wexit = await wrk.waitExit(15_000)
    assert.equal(wexit.code, 0, wrk.output)
    const total = /(\d+) requests in/.exec(wrk.stdout)
    assert.ok(total !== null, wrk.output)
    const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(wrk.stdout)
    const answered = Number(total[1])
    const ok = answered - (non2xx === null ? 0 : Number(non2xx[1]))
    assert.ok(ok > 0, wrk.output)
    t.diagnostic(`wrk: ${answered} responses, ${ok} with 200`)
    await assertNoTmp(out)
    const records = await readRecords(out)
    t.diagnostic(`records ${records.length}`)
    assert.ok(records.length >= ok, `records ${records.length} < 200 responses ${ok}\n${wrk.stdout}`)
    // At most one unanswered request in flight per connection.
    assert.ok(records.length <= answered + 16, `records ${records.length} > answered ${answered} + 16 in flight`)
    assert.ok(records.every(r => r.method === 'POST' && r.uri === '/wrk'))
  })

  test('a second SIGTERM while closing (a request still in flight) exits fast and leaves no .tmp; answered requests are sealed', async t => {
    const dir = await scratch(t, 'pp-twice')
    // Long flush interval: the answered records are still in memory when the signals come.
    const s = track(t, await startServe(['--out', dir, '--flush-ms', '60s', '--grace', '30s']))
    for (let i = 0; i < 10; i++) assert.equal((await request(s.port, { method: 'POST', path: `/twice/${i}`, body: `b${i}` })).status, 200)
    // An upload that never ends keeps the graceful close waiting.
    const hanging = http.request({ host: '127.0.0.1', port: s.port, method: 'POST', path: '/hanging', headers: { 'content-type': 'text/plain' } })
    hanging.on('error', () => {})
    onCleanup(t, async () => hanging.destroy())
    hanging.write('partial body')
    await sleep(200)
    s.proc.signal('SIGTERM')
    await sleep(500)
    assert.equal(s.proc.exit, null, 'the first SIGTERM should wait for the in-flight request')
    s.proc.signal('SIGTERM')
    const exit = await s.proc.waitExit(10_000)
    t.diagnostic(`exit code after two signals: ${String(exit.code)}`)
    assert.equal(exit.signal, null, `killed by ${String(exit.signal)}\n${s.proc.output}`)
    await assertNoTmp(dir)
    const uris = new Set((await readRecords(dir)).map(r => r.uri))
    for (let i = 0; i < 10; i++) assert.ok(uris.has(`/twice/${i}`), `/twice/${i} answered but not in the archive\n${s.proc.output}`)
  })

  test('two SIGTERMs back to back leave no .tmp and keep every answered request', async t => {
    const dir = await scratch(t, 'pp-twice-fast')
    const s = track(t, await startServe(['--out', dir, '--flush-ms', '60s']))
    for (let i = 0; i < 10; i++) assert.equal((await request(s.port, { method: 'PUT', path: `/fast/${i}`, body: noise(1000, i) })).status, 200)
    s.proc.signal('SIGTERM')
    s.proc.signal('SIGTERM')
    const exit = await s.proc.waitExit(10_000)
    t.diagnostic(`exit code after two signals: ${String(exit.code)}`)
    assert.equal(exit.signal, null, `killed by ${String(exit.signal)}\n${s.proc.output}`)
    await assertNoTmp(dir)
    const records = await readRecords(dir)
    assert.deepEqual(records.map(r => r.uri).sort(), Array.from({ length: 10 }, (_, i) => `/fast/${i}`).sort())
  })
})

describe('blackhole serve --workers 2', () => {
  test('both workers record into their own files; SIGTERM to the primary seals both and exits 0', async t => {
    const dir = await scratch(t, 'pp-workers')
    const s = track(t, await startServe(['--out', dir, '--workers', '2'], { timeoutMs: 30_000 }))
    assert.match(s.proc.stdout, /with 2 workers/)
    // A new connection per request, so the primary spreads them over both workers.
    const load = startLoad(s.port, { concurrency: 8, maxRequests: 400, durationMs: 30_000, body: Buffer.from('worker body'), agent: false })
    const res = await load.done
    assert.equal(res.ok, 400, `answers: ${JSON.stringify({ ...res, okPaths: res.okPaths.size })}`)
    s.proc.signal('SIGTERM')
    await assertCleanExit(s.proc, 30_000)
    const names = await listDir(dir)
    assert.deepEqual(names.filter(isTmp), [], `.tmp left: ${names.join(' ')}`)
    const archives = names.filter(isArchive)
    assert.equal(new Set(archives).size, archives.length)
    const pids = new Set(archives.map(pidOfFile))
    t.diagnostic(`files: ${archives.join(' ')}`)
    assert.ok(!pids.has(null), `unexpected file names: ${archives.join(' ')}`)
    assert.equal(pids.size, 2, `files from ${pids.size} pid(s): ${archives.join(' ')}`)
    assert.ok(!pids.has(s.proc.pid), 'the primary wrote a file')
    const records = await readRecords(dir)
    assert.equal(records.length, res.ok)
    assert.deepEqual(records.map(r => r.uri).sort(), [...res.okPaths].sort())
    // Each worker recorded some of them.
    for (const pid of pids) {
      const fromPid = records.filter(r => pidOfFile(path.basename(r.file)) === pid).length
      assert.ok(fromPid > 0, `worker ${String(pid)} recorded nothing`)
    }
  })
})

describe('blackhole serve: environment variables and flags', () => {
  test('BLACKHOLE_PORT and BLACKHOLE_OUT are used when no flag is given', async t => {
    const dir = await scratch(t, 'pp-env')
    const out = path.join(dir, 'from-env')
    const port = await freePort()
    const proc = track(t, new Proc(process.execPath, [CLI, 'serve', '--host', '127.0.0.1', '--stats-interval', '0'], { env: cleanEnv({ BLACKHOLE_PORT: String(port), BLACKHOLE_OUT: out }) }))
    await proc.waitForStdout(BANNER_END)
    assert.match(proc.stdout, new RegExp(`listening on http://127\\.0\\.0\\.1:${port}$`, 'm'))
    assert.ok(proc.stdout.includes(`recording into ${out}\n`), proc.output)
    assert.equal((await request(port, { method: 'POST', path: '/env', body: 'e' })).status, 200)
    proc.signal('SIGTERM')
    await assertCleanExit(proc)
    assert.deepEqual((await readRecords(out)).map(r => r.uri), ['/env'])
  })

  test('BLACKHOLE_RECORD=false makes a pure sink', async t => {
    const dir = await scratch(t, 'pp-env-norec')
    const out = path.join(dir, 'archive')
    const s = track(t, await startServe(['--out', out], { env: cleanEnv({ BLACKHOLE_RECORD: 'false' }) }))
    assert.match(s.proc.stdout, /not recording/)
    assert.equal((await request(s.port, { method: 'POST', path: '/x', body: 'y' })).status, 200)
    s.proc.signal('SIGTERM')
    await assertCleanExit(s.proc)
    assert.deepEqual(await listDir(out), [])
  })

  test('a flag beats its environment variable (--port, --out, --record)', async t => {
    const dir = await scratch(t, 'pp-env-flag')
    const envOut = path.join(dir, 'env-out')
    const flagOut = path.join(dir, 'flag-out')
    const envPort = await freePort()
    const env = cleanEnv({ BLACKHOLE_PORT: String(envPort), BLACKHOLE_OUT: envOut, BLACKHOLE_RECORD: 'false' })
    const s = track(t, await startServe(['--out', flagOut, '--record'], { env }))
    assert.notEqual(s.port, envPort)
    assert.match(s.proc.stdout, new RegExp(`listening on http://127\\.0\\.0\\.1:${s.port}$`, 'm'))
    assert.ok(s.proc.stdout.includes(`recording into ${flagOut}\n`), s.proc.output)
    assert.equal((await request(s.port, { method: 'POST', path: '/flag', body: 'f' })).status, 200)
    await assert.rejects(request(envPort, { path: '/nobody' }), /ECONNREFUSED/)
    s.proc.signal('SIGTERM')
    await assertCleanExit(s.proc)
    assert.deepEqual((await readRecords(flagOut)).map(r => r.uri), ['/flag'])
    assert.deepEqual(await listDir(envOut), [])
  })

  const bad: Array<{ args: string[], env?: Record<string, string>, names: RegExp }> = [
    { args: ['--port', 'x'], names: /--port/ },
    { args: ['--port', '70000'], names: /--port/ },
    { args: ['--workers', '0'], names: /--workers/ },
    { args: ['--bogus'], names: /--bogus/ },
    { args: ['--tls-cert', 'a'], names: /--tls-key/ },
    { args: ['--http2'], names: /--http2/ },
    { args: ['--body-limit', 'lots'], names: /--body-limit/ },
    { args: ['--codec', 'zzz'], names: /--codec/ },
    { args: [], env: { BLACKHOLE_SAMPLE: '2' }, names: /BLACKHOLE_SAMPLE|--sample/ },
    { args: [], env: { BLACKHOLE_PORT: 'eighty' }, names: /BLACKHOLE_PORT|--port/ },
    { args: [], env: { BLACKHOLE_RECORD: 'maybe' }, names: /BLACKHOLE_RECORD|--record/ }
  ]
  for (const b of bad) {
    const label = [...Object.entries(b.env ?? {}).map(([k, v]) => `${k}=${v}`), 'serve', ...b.args].join(' ')
    test(`${label}: exit 2 and one stderr line naming it`, async t => {
      const dir = await scratch(t, 'pp-bad')
      const port = await freePort()
      // --port and --out first, so the bad value (a later flag) is the one parsed; no --port
      // when the variable under test is BLACKHOLE_PORT (a flag would win over it).
      const portArgs = b.env?.BLACKHOLE_PORT === undefined ? ['--port', String(port)] : []
      const r = await runCli(['serve', '--host', '127.0.0.1', ...portArgs, '--out', path.join(dir, 'a'), '--stats-interval', '0', ...b.args], cleanEnv(b.env), 15_000)
      assert.equal(r.exit.code, 2, `exit ${JSON.stringify(r.exit)}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`)
      const lines = r.stderr.split('\n').filter(l => l !== '')
      assert.equal(lines.length, 1, `stderr:\n${r.stderr}`)
      assert.match(lines[0], b.names)
      assert.doesNotMatch(r.stdout, /listening on/)
      assert.deepEqual(await listDir(path.join(dir, 'a')), [])
    })
  }
})

describe('fastify-cli', () => {
  test('fastify start with the compiled preset app records a request and SIGTERM seals the file, exit 0', async t => {
    const bin = fastifyCliBin()
    assert.ok(bin !== null, 'node_modules/.bin/fastify not found (fastify-cli is a devDependency)')
    const dir = await scratch(t, 'pp-fcli')
    const port = await freePort()
    const proc = track(t, new Proc(process.execPath, [bin, 'start', '-l', 'warn', '-a', '127.0.0.1', '-p', String(port), PRESET_APP, '--', '--out', dir, '--stats-interval-ms', '0'], { env: cleanEnv() }))
    await waitForPort(port, 30_000, () => proc.exit === null)
    const r = await request(port, { method: 'POST', path: '/via-fastify-cli?x=1', headers: { 'content-type': 'bogus', 'X-Case': 'Kept' }, body: 'from fastify-cli' })
    assert.equal(r.status, 200, proc.output)
    assert.equal(r.body.length, 0)
    const stats = await request(port, { path: '/_blackhole/stats' })
    assert.equal(stats.status, 200)
    assert.equal(JSON.parse(stats.body.toString()).recording, true)
    proc.signal('SIGTERM')
    await assertCleanExit(proc)
    await assertNoTmp(dir)
    const records = await readRecords(dir)
    assert.equal(records.length, 1, proc.output)
    assert.equal(records[0].method, 'POST')
    assert.equal(records[0].uri, '/via-fastify-cli?x=1')
    assert.equal(Buffer.from(records[0].body).toString(), 'from fastify-cli')
    assert.ok(headerLines(records[0].headers).some(([n, v]) => n === 'X-Case' && v === 'Kept'))
  })
})
