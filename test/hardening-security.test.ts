// Security of `blackhole serve` end to end, as a real process with an admin token (given
// through BLACKHOLE_ADMIN_TOKEN), a replay allowlist, redacted headers and trace logging, run
// under umask 000: every abusive admin call over a real socket is refused with the right status
// and starts nothing (the allowed target counts zero requests); a replay target that redirects
// to a forbidden one is not followed; DNS names resolving to forbidden addresses are refused
// (checkTarget with a custom resolver); the redacted secrets and the admin token appear in no
// archive byte (files, decompressed streams, `lz4 -dc`), no log line and no stats output; and
// archive directories and files are owner-only (0700/0600) whatever the umask. The in-process
// route tests (replay-routes.test.ts) cover the same rules through inject.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { lstat, mkdir, readdir, rm, stat, symlink } from 'node:fs/promises'
import http from 'node:http'
import type net from 'node:net'
import path from 'node:path'
import { checkTarget } from '../preset/server/replay-routes.js'
import { archiveBytes } from './fixtures-plugin.js'
import { BANNER_END, CLI, cleanEnv, freePort, isArchive, isTmp, listDir, Proc, request, rmDir, sleep, stopAll, tmpDir } from './fixtures-preset.js'
import { CaptureServer, seriesRecords, writeRecords } from './fixtures-replay.js'
import { requireTool } from './tools.js'

after(stopAll)

const TOKEN = 'hardening-admin-token-5f1e2d3c4b5a'
const ROUTE = '/_blackhole/replay'
const SECRETS = { authorization: 'SECRET-HARD-AUTHZ-81f3', apiKey: 'SECRET-HARD-APIKEY-27c9', cookie: 'SECRET-HARD-COOKIE-44aa' }

let base: string
let dir: string
let proc: Proc
let port: number
let allowed: CaptureServer
let forbidden: CaptureServer
let redirector: http.Server
let redirects = 0

before(async () => {
  base = await tmpDir('hard-sec')
  dir = path.join(base, 'a', 'b', 'archive') // three directories created by the sink
  allowed = await CaptureServer.start()
  forbidden = await CaptureServer.start()
  redirector = http.createServer((req, res) => {
    redirects++
    req.resume()
    req.on('end', () => res.writeHead(302, { location: `${forbidden.origin}/stolen${req.url ?? ''}` }).end())
  })
  await new Promise<void>(resolve => redirector.listen(0, '127.0.0.1', resolve))
  const redirectPort = (redirector.address() as net.AddressInfo).port
  port = await freePort()
  const args = ['serve', '--host', '127.0.0.1', '--port', String(port), '--out', dir, '--stats-interval', '0', '--log-level', 'trace',
    '--flush-ms', '100', '--redact-header', 'authorization', '--redact-header', 'x-api-key', '--redact-header', 'cookie']
  const env = cleanEnv({ BLACKHOLE_ADMIN_TOKEN: TOKEN, BLACKHOLE_REPLAY_ALLOW: `127.0.0.1:${allowed.port},127.0.0.1:${redirectPort}` })
  proc = new Proc('bash', ['-c', `umask 000 && exec ${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} ${args.map(a => JSON.stringify(a)).join(' ')}`], { env })
  await proc.waitForStdout(BANNER_END)
})

after(async () => {
  await proc?.stop(5000)
  await allowed?.close()
  await forbidden?.close()
  redirector?.close()
  await rmDir(base)
})

const AUTH = { authorization: `Bearer ${TOKEN}` }

async function call (method: string, url: string, body?: unknown, headers: Record<string, string> = AUTH): Promise<{ status: number, json: Record<string, unknown> }> {
  const r = await request(port, {
    method,
    path: url,
    headers: body === undefined ? headers : { ...headers, 'content-type': 'application/json' },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body)
  })
  let json: Record<string, unknown> = {}
  try {
    json = JSON.parse(r.body.toString()) as Record<string, unknown>
  } catch {}
  return { status: r.status, json }
}

async function waitJob (id: string): Promise<Record<string, unknown>> {
  const deadline = Date.now() + 15_000
  for (;;) {
    const r = await call('GET', `${ROUTE}/${id}`)
    assert.equal(r.status, 200)
    if (r.json.state !== 'running') return r.json
    if (Date.now() > deadline) throw new Error(`job still running: ${JSON.stringify(r.json)}`)
    await sleep(50)
  }
}

describe('admin and replay routes over a real socket', () => {
  test('abusive calls: no/wrong token 401, token in the query 400, bad targets 400/403, traversal 400/404, oversized 400/413; nothing started', async t => {
    // Archives to replay, and a link leading out of the directory.
    await writeRecords(dir, seriesRecords(5, null, { prefix: 'sec' }))
    await mkdir(path.join(dir, 'sub'), { recursive: true })
    await symlink('/etc/passwd', path.join(dir, 'passwd.fbf.lz4'))
    await symlink('/etc', path.join(dir, 'sub', 'etc'))
    const good = { target: allowed.origin }
    const cases: Array<[string, string, string, unknown, Record<string, string>, number]> = [
      ['no token', 'POST', ROUTE, good, {}, 401],
      ['wrong token', 'POST', ROUTE, good, { authorization: 'Bearer wrong-token-wrong-token' }, 401],
      ['token prefix', 'POST', ROUTE, good, { authorization: `Bearer ${TOKEN.slice(0, -1)}` }, 401],
      ['Basic scheme', 'POST', ROUTE, good, { authorization: `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}` }, 401],
      ['token as the whole header', 'POST', ROUTE, good, { authorization: TOKEN }, 401],
      ['token in the query', 'POST', `${ROUTE}?token=${TOKEN}`, good, {}, 400],
      ['access_token in the query, with a good header', 'POST', `${ROUTE}?access_token=${TOKEN}`, good, AUTH, 400],
      ['GET a job without a token', 'GET', `${ROUTE}/00000000-0000-0000-0000-000000000000`, undefined, {}, 401],
      ['DELETE a job without a token', 'DELETE', `${ROUTE}/00000000-0000-0000-0000-000000000000`, undefined, {}, 401],
      ['GET with the token in the query', 'GET', `${ROUTE}/x?token=${TOKEN}`, undefined, {}, 400],
      ['target not allowed', 'POST', ROUTE, { target: forbidden.origin }, AUTH, 403],
      ['target by name, allowlist by address', 'POST', ROUTE, { target: `http://localhost:${allowed.port}/` }, AUTH, 403],
      ['metadata address', 'POST', ROUTE, { target: 'http://169.254.169.254/' }, AUTH, 403],
      ['file: URL', 'POST', ROUTE, { target: 'file:///etc/passwd' }, AUTH, 400],
      ['credentials in the target', 'POST', ROUTE, { target: `http://u:p@127.0.0.1:${allowed.port}/` }, AUTH, 400],
      ['../ in files', 'POST', ROUTE, { ...good, files: ['../../../etc/passwd'] }, AUTH, 400],
      ['absolute file', 'POST', ROUTE, { ...good, files: ['/etc/passwd'] }, AUTH, 400],
      ['dot segments through a subdirectory', 'POST', ROUTE, { ...good, files: ['sub/./../../x'] }, AUTH, 400],
      ['symlink to a file outside', 'POST', ROUTE, { ...good, files: ['passwd.fbf.lz4'] }, AUTH, 400],
      ['through a symlinked directory', 'POST', ROUTE, { ...good, files: ['sub/etc/passwd'] }, AUTH, 400],
      ['percent-encoded ..', 'POST', ROUTE, { ...good, files: ['%2e%2e%2f%2e%2e%2fetc%2fpasswd'] }, AUTH, 404],
      ['backslashes', 'POST', ROUTE, { ...good, files: ['..\\..\\etc\\passwd'] }, AUTH, 400],
      ['NUL byte', 'POST', ROUTE, { ...good, files: ['a\u0000.fbf.lz4'] }, AUTH, 400],
      ['10001 file names', 'POST', ROUTE, { ...good, files: Array.from({ length: 10_001 }, (_, i) => `f${i}`) }, AUTH, 413],
      ['2000 file names (under the size limit), all missing', 'POST', ROUTE, { ...good, files: Array.from({ length: 2000 }, (_, i) => `f${i}`) }, AUTH, 404],
      ['body over 64 KiB', 'POST', ROUTE, { ...good, pad: 'x'.repeat(70_000) }, AUTH, 413],
      ['multiply 1001', 'POST', ROUTE, { ...good, multiply: 1001 }, AUTH, 400],
      ['loop 1e6', 'POST', ROUTE, { ...good, loop: 1e6 }, AUTH, 400],
      ['concurrency 5000', 'POST', ROUTE, { ...good, concurrency: 5000 }, AUTH, 400],
      ['rate 1e9', 'POST', ROUTE, { ...good, rate: 1e9 }, AUTH, 400],
      ['limit 1e12', 'POST', ROUTE, { ...good, limit: 1e12 }, AUTH, 400],
      ['timeoutMs a day', 'POST', ROUTE, { ...good, timeoutMs: 86_400_000 }, AUTH, 400],
      ['unknown field', 'POST', ROUTE, { ...good, shell: 'rm -rf /' }, AUTH, 400],
      ['not JSON', 'POST', ROUTE, '{"target":', AUTH, 400],
      ['a JSON array', 'POST', ROUTE, [good], AUTH, 400]
    ]
    const wrong: string[] = []
    for (const [name, method, url, body, headers, status] of cases) {
      const r = await call(method, url, body, headers)
      if (r.status !== status) wrong.push(`${name}: ${r.status} (want ${status}) ${JSON.stringify(r.json).slice(0, 200)}`)
      if (r.status === 401 && method === 'POST') assert.ok(!JSON.stringify(r.json).includes(TOKEN))
    }
    await sleep(300)
    t.diagnostic(`${cases.length} refused calls; allowed target saw ${allowed.count}, forbidden target ${forbidden.count}`)
    assert.deepEqual(wrong, [], wrong.join('\n'))
    assert.equal(allowed.count, 0, 'a refused call started a job')
    assert.equal(forbidden.count, 0)
    // Control: the same call with the token is accepted (the refusals above could fail).
    const ok = await call('POST', ROUTE, { target: allowed.origin, files: (await readdir(dir)).filter(n => n.startsWith('requests_')) })
    assert.equal(ok.status, 202, JSON.stringify(ok.json))
    const done = await waitJob(String(ok.json.id))
    assert.equal(done.state, 'done', JSON.stringify(done))
    assert.ok(allowed.count >= 5)
    // The links out are no archives: gone before the byte searches below.
    await rm(path.join(dir, 'passwd.fbf.lz4'))
    await rm(path.join(dir, 'sub'), { recursive: true })
  })

  test('an allowed target that redirects to a forbidden one: the redirect is not followed', async () => {
    const target = `http://127.0.0.1:${(redirector.address() as net.AddressInfo).port}/`
    const files = (await readdir(dir)).filter(n => n.startsWith('requests_') && !n.endsWith('.tmp'))
    const r = await call('POST', ROUTE, { target, files })
    assert.equal(r.status, 202, JSON.stringify(r.json))
    const done = await waitJob(String(r.json.id))
    assert.equal(done.state, 'done', JSON.stringify(done))
    assert.ok(redirects >= 5, `the redirecting target saw ${redirects} requests`)
    const summary = done.summary as { statuses: Record<string, number> }
    assert.ok((summary.statuses['302'] ?? 0) >= 5, JSON.stringify(summary))
    await sleep(200)
    assert.equal(forbidden.count, 0, 'a redirect to a forbidden target was followed')
  })

  test('DNS names resolving to forbidden addresses are refused (custom resolver), also when one address of many is', async () => {
    const all = [/^.*$/]
    const cases: Array<[string[], number | null]> = [
      [['169.254.169.254'], 403],
      [['10.1.2.3', '169.254.169.254'], 403],
      [['::ffff:169.254.169.254'], 403],
      [['fe80::1'], 403],
      [['0.0.0.0'], 403],
      [['100.100.100.200'], 403],
      [['fd00:ec2::254'], 403],
      [[], 400],
      [['127.0.0.1'], null]
    ]
    for (const [addresses, status] of cases) {
      const p = checkTarget('http://metadata.example.internal:8080/x', all, new Set(), async () => addresses)
      if (status === null) {
        const { url, host } = await p
        assert.equal(url.hostname, '127.0.0.1')
        assert.equal(host, 'metadata.example.internal:8080')
      } else {
        await assert.rejects(p, (err: { statusCode?: number }) => err.statusCode === status, JSON.stringify(addresses))
      }
    }
    // A resolver failure is a 400, not a crash.
    await assert.rejects(checkTarget('http://x.invalid/', all, new Set(), async () => { throw new Error('ENOTFOUND') }), (err: { statusCode?: number }) => err.statusCode === 400)
    // The real resolver: localhost resolves to loopback, which is allowed when the allowlist names it.
    const real = await checkTarget('http://localhost:9/', [/^localhost:9$/], new Set())
    assert.ok(['127.0.0.1', '[::1]'].includes(real.url.hostname), real.url.hostname)
  })
})

describe('redaction and file modes', () => {
  test('redacted secrets and the admin token appear in no archive byte, no log line, no stats output', async t => {
    for (let i = 0; i < 5; i++) {
      const r = await request(port, {
        method: 'POST',
        path: `/secret/${i}`,
        headers: { authorization: `Bearer ${SECRETS.authorization}`, 'x-api-key': SECRETS.apiKey, cookie: `sid=${SECRETS.cookie}`, 'x-keep': 'visible-control', 'content-type': 'text/plain' },
        body: 'body-control'
      })
      assert.equal(r.status, 200)
    }
    // Requests on the admin paths with the token (stats, a refused job) must not leak it either.
    const stats = await request(port, { path: '/_blackhole/stats', headers: AUTH })
    const archives = await request(port, { path: '/_blackhole/archives', headers: AUTH })
    await sleep(300)
    // A .tmp exists while running: its mode too.
    const running = await listDir(dir)
    const tmp = running.find(isTmp)
    assert.ok(tmp !== undefined, `no .tmp while running: ${running.join(' ')}`)
    assert.equal((await stat(path.join(dir, tmp))).mode & 0o777, 0o600, `${tmp} while running`)
    proc.signal('SIGTERM')
    const exit = await proc.waitExit(20_000)
    assert.deepEqual(exit, { code: 0, signal: null }, proc.output)
    if (!requireTool(t, 'lz4')) return
    const { files, streams, lz4 } = await archiveBytes(dir)
    const needles = [...Object.values(SECRETS), TOKEN]
    const outputs: Array<[string, Buffer[]]> = [['archive file', files], ['decompressed stream', streams], ['lz4 -dc output', lz4],
      ['log output', [Buffer.from(proc.stdout + proc.stderr)]], ['stats', [stats.body]], ['archives listing', [archives.body]]]
    for (const n of needles) {
      for (const [kind, bufs] of outputs) for (const b of bufs) assert.equal(b.indexOf(n), -1, `${n} found in ${kind}`)
    }
    // Controls: the searches can succeed.
    assert.ok(streams.some(s => s.includes('visible-control')) && lz4.some(s => s.includes('body-control')))
    assert.ok(streams.some(s => s.includes('[REDACTED]')))
    assert.ok(proc.stdout.split('\n').length > 5, 'trace logging produced output')
    t.diagnostic(`${needles.length} secrets searched in ${files.length} files, ${proc.stdout.length} bytes of logs, stats and listings`)
  })

  test('under umask 000: the archive directory and every directory created for it are 0700, every archive file 0600', async () => {
    for (const d of [path.join(base, 'a'), path.join(base, 'a', 'b'), dir]) {
      assert.equal((await stat(d)).mode & 0o777, 0o700, d)
    }
    const names = (await listDir(dir)).filter(isArchive)
    assert.ok(names.length >= 2, names.join(' '))
    for (const n of names) {
      const st = await lstat(path.join(dir, n))
      assert.ok(st.isFile(), n)
      assert.equal(st.mode & 0o777, 0o600, n)
    }
  })
})
