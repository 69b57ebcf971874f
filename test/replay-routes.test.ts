// The replay routes of the preset (preset/server/replay-routes.ts): POST/GET/DELETE
// /_blackhole/replay behind a bearer token, a target allowlist with DNS pinning and forbidden
// addresses, and file names confined to the archive directory. The preset runs in process
// (inject, and real sockets on 127.0.0.1:0); jobs send to a capture server on 127.0.0.1.
// Targets that must be refused carry a filter matching no record, so that even a job started
// by mistake sends nothing off the loopback interface.
import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import type { TestContext } from 'node:test'
import { statSync, truncateSync } from 'node:fs'
import { mkdir, symlink } from 'node:fs/promises'
import path from 'node:path'
import Fastify, { type FastifyInstance } from 'fastify'
import blackholePreset, { type PresetOptions } from '../preset/app.js'
import { CaptureServer, closedPort, noise, rawValues, rmDir, seriesRecords, sleep, tmpDir, writeRecords, type CaptureOptions } from './fixtures-replay.js'

const TOKEN = 'replay-admin-token-0123456789abcdef'
const ROUTE = '/_blackhole/replay'
const AUTH = { authorization: `Bearer ${TOKEN}` }
/** A filter no record matches: a job started by mistake sends nothing. */
const NOTHING = { methods: ['NO-SUCH-METHOD'] }

interface Preset {
  app: FastifyInstance
  dir: string
  /** Sealed archive file names in `dir`. */
  files: string[]
}

async function preset (t: TestContext, opts: PresetOptions, records = seriesRecords(10, 5)): Promise<Preset> {
  const dir = await tmpDir('routes')
  t.after(() => rmDir(dir))
  const files = records.length > 0 ? (await writeRecords(dir, records)).map(f => path.basename(f)) : []
  const app = Fastify() as unknown as FastifyInstance
  t.after(() => app.close())
  await app.register(blackholePreset, { out: dir, record: false, statsIntervalMs: 0, ...opts })
  await app.ready()
  return { app, dir, files }
}

async function capture (t: TestContext, opts: CaptureOptions = {}): Promise<CaptureServer> {
  const c = await CaptureServer.start(opts)
  t.after(() => c.close())
  return c
}

interface Answer {
  status: number
  headers: Record<string, unknown>
  json: Record<string, unknown>
}

async function call (app: FastifyInstance, method: 'POST' | 'GET' | 'DELETE', url: string, body?: unknown, headers: Record<string, string> = AUTH): Promise<Answer> {
  const res = await app.inject({
    method,
    url,
    headers: body === undefined ? headers : { ...headers, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { payload: typeof body === 'string' ? body : JSON.stringify(body) })
  })
  let json: Record<string, unknown> = {}
  try {
    json = res.json()
  } catch {
    // not JSON
  }
  return { status: res.statusCode, headers: res.headers, json }
}

interface JobView {
  id: string
  state: string
  finishedAt: string | null
  target: string
  files: string[]
  progress: { sent: number } | null
  summary: { sent: number, answered: number, statuses: Record<string, number>, stopped: boolean } | null
  error: string | null
}

/** Polls GET until `done(view)`; returns every view seen. */
async function waitJob (app: FastifyInstance, id: string, done: (v: JobView) => boolean, timeoutMs = 10_000): Promise<JobView[]> {
  const seen: JobView[] = []
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const r = await call(app, 'GET', `${ROUTE}/${id}`)
    assert.equal(r.status, 200, JSON.stringify(r.json))
    const v = r.json as unknown as JobView
    seen.push(v)
    if (done(v)) return seen
    if (Date.now() > deadline) throw new Error(`job ${id} still ${v.state} after ${timeoutMs} ms: ${JSON.stringify(v)}`)
    await sleep(50)
  }
}

const finished = (v: JobView): boolean => v.state !== 'running' && v.finishedAt !== null

describe('access', () => {
  test('without adminToken the replay routes do not exist (404)', async (t) => {
    const cap = await capture(t)
    const { app } = await preset(t, { replayAllow: ['*:*'] })
    for (const [method, url] of [['POST', ROUTE], ['GET', `${ROUTE}/x`], ['DELETE', `${ROUTE}/x`]] as const) {
      const r = await call(app, method, url, method === 'POST' ? { target: cap.origin } : undefined)
      assert.equal(r.status, 404, `${method} ${url}`)
    }
    await sleep(100)
    assert.equal(cap.count, 0)
  })

  test('no token, wrong token, wrong scheme: 401 with WWW-Authenticate, nothing started', async (t) => {
    const cap = await capture(t)
    const { app } = await preset(t, { adminToken: TOKEN, replayAllow: ['127.0.0.1:*'] })
    const body = { target: cap.origin }
    const bad: Array<Record<string, string>> = [
      {},
      { authorization: 'Bearer wrong-token-0123456789abcdef' },
      { authorization: `Bearer ${TOKEN}x` },
      { authorization: `Bearer ${TOKEN.slice(0, -1)}` },
      { authorization: 'Bearer ' },
      { authorization: `Basic ${Buffer.from(`admin:${TOKEN}`).toString('base64')}` },
      { authorization: TOKEN },
      { 'x-admin-token': TOKEN }
    ]
    for (const h of bad) {
      for (const [method, url] of [['POST', ROUTE], ['GET', `${ROUTE}/some-id`], ['DELETE', `${ROUTE}/some-id`]] as const) {
        const r = await call(app, method, url, method === 'POST' ? body : undefined, h)
        assert.equal(r.status, 401, `${method} with ${JSON.stringify(h)}`)
        assert.equal(r.headers['www-authenticate'], 'Bearer', `${method} with ${JSON.stringify(h)}`)
      }
    }
    await sleep(200)
    assert.equal(cap.count, 0, 'nothing was sent')
    // Nothing holds the single job slot either.
    const ok = await call(app, 'POST', ROUTE, { ...body, limit: 1 })
    assert.equal(ok.status, 202, JSON.stringify(ok.json))
  })

  test('a token in the query string is refused, even with a good header; nothing started', async (t) => {
    const cap = await capture(t)
    const { app } = await preset(t, { adminToken: TOKEN, replayAllow: ['127.0.0.1:*'] })
    for (const q of [`?access_token=${TOKEN}`, `?token=${TOKEN}`, `?x=1&TOKEN=${TOKEN}`]) {
      for (const headers of [AUTH, {}]) {
        const r = await call(app, 'POST', ROUTE + q, { target: cap.origin }, headers)
        assert.ok(r.status === 400 || r.status === 401, `${q} with ${JSON.stringify(headers)}: ${r.status}`)
      }
      const g = await call(app, 'GET', `${ROUTE}/x${q}`)
      assert.ok(g.status === 400 || g.status === 401, `GET ${q}: ${g.status}`)
    }
    await sleep(200)
    assert.equal(cap.count, 0)
  })

  test('oversized body: 413, nothing started', async (t) => {
    const cap = await capture(t)
    const { app } = await preset(t, { adminToken: TOKEN, replayAllow: ['127.0.0.1:*'] })
    const r = await call(app, 'POST', ROUTE, { target: cap.origin, path: 'x'.repeat(100 * 1024) })
    assert.equal(r.status, 413)
    await sleep(200)
    assert.equal(cap.count, 0)
  })

  test('malformed bodies: 400 naming the problem', async (t) => {
    const cap = await capture(t)
    // Room for many jobs: this test is about the 400s, not about the job slots.
    const { app } = await preset(t, { adminToken: TOKEN, replayAllow: ['127.0.0.1:*'], replayMaxJobs: 100 })
    const cases: Array<[unknown, RegExp]> = [
      ['[1,2]', /JSON object/],
      [{}, /target/],
      [{ target: 42 }, /target/],
      [{ target: cap.origin, bogus: 1 }, /unknown field bogus/],
      [{ target: cap.origin, rate: 'fast' }, /rate/],
      [{ target: cap.origin, concurrency: 0 }, /concurrency/],
      [{ target: cap.origin, loop: 1.5 }, /loop/],
      [{ target: cap.origin, multiply: 0 }, /multiply/],
      [{ target: cap.origin, limit: -1 }, /limit/],
      [{ target: cap.origin, timeoutMs: 'soon' }, /timeoutMs/],
      [{ target: cap.origin, removeHeaders: 'x' }, /removeHeaders/],
      [{ target: cap.origin, path: '(' }, /path/],
      [{ target: cap.origin, setHeaders: ['nocolon'] }, /setHeaders/],
      [{ target: cap.origin, methods: 'GET' }, /methods/],
      [{ target: 'not a url' }, /URL/],
      [{ target: 'ftp://127.0.0.1/' }, /http/],
      [{ target: `http://user:pw@127.0.0.1:${cap.port}/` }, /credentials/]
    ]
    for (const [body, re] of cases) {
      const r = await call(app, 'POST', ROUTE, body)
      assert.equal(r.status, 400, JSON.stringify(body))
      assert.match(String(r.json.error), re, JSON.stringify(body))
    }
    await sleep(200)
    assert.equal(cap.count, 0)
  })

  test('a POST refused with 400 holds no job slot', async (t) => {
    // Some fields are checked after the job has been registered as running: a refused request
    // must not leave a job behind that counts against replayMaxJobs.
    const cap = await capture(t)
    const { app } = await preset(t, { adminToken: TOKEN, replayAllow: ['127.0.0.1:*'] })
    for (const body of [{ target: cap.origin, loop: 0 }, { target: cap.origin, methods: 'GET' }]) {
      const r = await call(app, 'POST', ROUTE, body)
      assert.equal(r.status, 400, JSON.stringify(body))
    }
    const ok = await call(app, 'POST', ROUTE, { target: cap.origin, limit: 1 })
    assert.equal(ok.status, 202, `a valid job after two refused ones: ${ok.status} ${JSON.stringify(ok.json)}`)
  })
})

describe('targets', () => {
  test('a target outside the allowlist: 403, nothing started', async (t) => {
    const cap = await capture(t)
    const other = await closedPort()
    const { app } = await preset(t, { adminToken: TOKEN, replayAllow: [`127.0.0.1:${cap.port}`, 'staging-*.internal:8080'] })
    for (const target of [`http://127.0.0.1:${other}/`, 'http://10.0.0.1:80/', 'https://example.com/', 'http://staging-1.internal:9090/', `http://[::1]:${cap.port}/`, `http://localhost:${cap.port}/`]) {
      const r = await call(app, 'POST', ROUTE, { target, ...NOTHING })
      assert.equal(r.status, 403, target)
      assert.match(String(r.json.error), /allowlist/, target)
    }
    const none = await preset(t, { adminToken: TOKEN })
    assert.equal((await call(none.app, 'POST', ROUTE, { target: cap.origin })).status, 403, 'an empty allowlist allows nothing')
    await sleep(200)
    assert.equal(cap.count, 0)
  })

  test('a DNS name allowed by pattern (localhost:*) resolving to 127.0.0.1 works; Host names it', async (t) => {
    const cap = await capture(t)
    const { app } = await preset(t, { adminToken: TOKEN, replayAllow: ['localhost:*'] })
    const r = await call(app, 'POST', ROUTE, { target: `http://localhost:${cap.port}/base/` })
    assert.equal(r.status, 202, JSON.stringify(r.json))
    const views = await waitJob(app, String(r.json.id), finished)
    const last = views[views.length - 1]
    assert.equal(last.state, 'done', JSON.stringify(last))
    assert.equal(last.summary?.answered, 10)
    assert.equal(cap.count, 10)
    for (const c of cap.received) {
      assert.deepEqual(rawValues(c.rawHeaders, 'host'), [`localhost:${cap.port}`])
      assert.match(c.url, /^\/base\/s\/\d+\?q=\d+$/)
    }
  })

  test('link-local, metadata and "this host" addresses are refused even with a *:* allowlist', async (t) => {
    const { app } = await preset(t, { adminToken: TOKEN, replayAllow: ['*:*'] })
    for (const target of [
      'http://169.254.169.254/latest/meta-data/',
      'http://169.254.169.254:8080/',
      'http://169.254.0.1/',
      'http://2852039166/', // 169.254.169.254 as one number
      'http://0xa9.0xfe.0xa9.0xfe/',
      'http://[fe80::1]/',
      'http://[febf::1]:8080/',
      'http://0.0.0.0:80/',
      'http://[::]:80/'
    ]) {
      const r = await call(app, 'POST', ROUTE, { target, ...NOTHING })
      assert.equal(r.status, 403, `${target}: ${JSON.stringify(r.json)}`)
    }
    // Named literally in the allowlist, an address is allowed (the documented escape hatch).
    const lit = await preset(t, { adminToken: TOKEN, replayAllow: ['169.254.169.254:80'] }, [])
    const r = await call(lit.app, 'POST', ROUTE, { target: 'http://169.254.169.254/', ...NOTHING })
    assert.equal(r.status, 202, JSON.stringify(r.json))
    await waitJob(lit.app, String(r.json.id), finished)
  })

  test('the metadata address in IPv4-mapped IPv6 form is refused with a *:* allowlist', async (t) => {
    // [::ffff:169.254.169.254] connects to 169.254.169.254 on a dual-stack host; WHATWG URL
    // serializes it as [::ffff:a9fe:a9fe].
    const { app } = await preset(t, { adminToken: TOKEN, replayAllow: ['*:*'] }, [])
    const refused: string[] = []
    for (const target of ['http://[::ffff:169.254.169.254]/', 'http://[::ffff:a9fe:a9fe]:80/', 'http://[0:0:0:0:0:ffff:a9fe:a9fe]/', 'http://[::ffff:0.0.0.0]/']) {
      const r = await call(app, 'POST', ROUTE, { target, ...NOTHING })
      if (r.status === 202) await waitJob(app, String(r.json.id), finished)
      refused.push(`${target} -> ${r.status}`)
    }
    assert.deepEqual(refused, refused.map(s => s.replace(/-> \d+$/, '-> 403')))
  })

  test('the IPv6 cloud metadata address (AWS fd00:ec2::254) is refused with a *:* allowlist', async (t) => {
    const { app } = await preset(t, { adminToken: TOKEN, replayAllow: ['*:*'] }, [])
    const r = await call(app, 'POST', ROUTE, { target: 'http://[fd00:ec2::254]/latest/meta-data/', ...NOTHING })
    if (r.status === 202) await waitJob(app, String(r.json.id), finished)
    assert.equal(r.status, 403, JSON.stringify(r.json))
  })
})

describe('files', () => {
  test('names leaving the archive directory: 400/404, nothing started', async (t) => {
    const cap = await capture(t)
    const { app, dir, files } = await preset(t, { adminToken: TOKEN, replayAllow: ['127.0.0.1:*'] })
    // Archives outside the directory, and links to them from inside.
    const outside = await tmpDir('outside')
    t.after(() => rmDir(outside))
    const [outFile] = await writeRecords(outside, seriesRecords(3, 5, { prefix: 'outside' }))
    await symlink(outFile, path.join(dir, 'requests_20990101000000_1-00000001.fbf.lz4'))
    await symlink(outside, path.join(dir, 'linkdir'))
    await mkdir(path.join(dir, 'sub'))
    const names: unknown[] = [
      ['../x'], ['..'], ['.'], [''], ['/etc/passwd'], [outFile], ['%2e%2e/x'], ['sub/../../x'], ['sub/..'], ['..\\x'],
      ['a\u0000b'], ['requests_20990101000000_1-00000001.fbf.lz4'], [`linkdir/${path.basename(outFile)}`],
      [files[0], '../x'], [], 'requests.fbf.lz4', [42], ['no-such-file.fbf.lz4']
    ]
    for (const f of names) {
      const r = await call(app, 'POST', ROUTE, { target: cap.origin, files: f })
      assert.ok(r.status === 400 || r.status === 404, `files ${JSON.stringify(f)}: ${r.status} ${JSON.stringify(r.json)}`)
    }
    await sleep(300)
    assert.equal(cap.count, 0, 'nothing was sent')

    // A whole-directory job does not follow the link out either.
    const r = await call(app, 'POST', ROUTE, { target: cap.origin })
    assert.equal(r.status, 202)
    const views = await waitJob(app, String(r.json.id), finished)
    assert.equal(views[views.length - 1].summary?.sent, 10)
    assert.ok(cap.received.every(c => !c.url.startsWith('/outside/')), cap.received.map(c => c.url).join(' '))
  })

  test('a file inside the directory (also in a subdirectory, also through an inside link) is accepted', async (t) => {
    const cap = await capture(t)
    const { app, dir, files } = await preset(t, { adminToken: TOKEN, replayAllow: ['127.0.0.1:*'] })
    await mkdir(path.join(dir, 'sub'))
    const [subFile] = await writeRecords(path.join(dir, 'sub'), seriesRecords(2, 5, { prefix: 'sub' }))
    await symlink(path.join(dir, files[0]), path.join(dir, 'inside-link.fbf.lz4'))
    const r = await call(app, 'POST', ROUTE, { target: cap.origin, files: [files[0], `sub/${path.basename(subFile)}`, 'inside-link.fbf.lz4'] })
    assert.equal(r.status, 202, JSON.stringify(r.json))
    assert.deepEqual((r.json as unknown as JobView).files, [files[0], path.basename(subFile), files[0]])
    const views = await waitJob(app, String(r.json.id), finished)
    assert.equal(views[views.length - 1].summary?.sent, 22)
    assert.equal(cap.count, 22)
  })
})

describe('jobs', () => {
  test('over real sockets: 202 with Location, GET shows progress, then a summary matching the target\'s count', async (t) => {
    const cap = await capture(t)
    const { app, files } = await preset(t, { adminToken: TOKEN, replayAllow: ['127.0.0.1:*'] }, seriesRecords(24, 5))
    await app.listen({ port: 0, host: '127.0.0.1' })
    const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
    const unauth = await fetch(base + ROUTE, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ target: cap.origin }) })
    assert.equal(unauth.status, 401)
    assert.equal(unauth.headers.get('www-authenticate'), 'Bearer')
    const res = await fetch(base + ROUTE, {
      method: 'POST',
      headers: { ...AUTH, 'content-type': 'application/json' },
      body: JSON.stringify({ target: cap.origin, rate: 20, files, setHeaders: ['X-Job: {n}'] })
    })
    assert.equal(res.status, 202)
    const started = await res.json() as JobView
    assert.equal(res.headers.get('location'), `${ROUTE}/${started.id}`)
    assert.equal(started.state, 'running')
    assert.deepEqual(started.files, files)
    const views: JobView[] = []
    const deadline = Date.now() + 15_000
    for (;;) {
      const g = await fetch(base + res.headers.get('location'), { headers: AUTH })
      assert.equal(g.status, 200)
      const v = await g.json() as JobView
      views.push(v)
      if (finished(v)) break
      assert.ok(Date.now() < deadline, `job still ${v.state}`)
      await sleep(100)
    }
    const running = views.filter(v => v.state === 'running' && v.progress !== null)
    assert.ok(running.length > 0, 'progress shown while running')
    assert.ok(running.every(v => (v.progress?.sent ?? 0) <= 24))
    const last = views[views.length - 1]
    assert.equal(last.state, 'done', JSON.stringify(last))
    assert.equal(last.summary?.sent, 24)
    assert.equal(last.summary?.answered, 24)
    assert.deepEqual(last.summary?.statuses, { 200: 24 })
    assert.equal(cap.count, 24)
    assert.deepEqual(cap.received.map(c => rawValues(c.rawHeaders, 'x-job')[0]).sort((a, b) => Number(a) - Number(b)), Array.from({ length: 24 }, (_, i) => String(i + 1)))
    assert.ok(cap.received.every(c => rawValues(c.rawHeaders, 'host')[0] === `127.0.0.1:${cap.port}`))
  })

  test('DELETE cancels a long job; GET of an unknown job is 404', async (t) => {
    const cap = await capture(t)
    const { app } = await preset(t, { adminToken: TOKEN, replayAllow: ['127.0.0.1:*'] })
    const r = await call(app, 'POST', ROUTE, { target: cap.origin, rate: 10, loop: 1000 })
    assert.equal(r.status, 202)
    const id = String(r.json.id)
    await cap.waitForCount(3)
    const d = await call(app, 'DELETE', `${ROUTE}/${id}`)
    assert.equal(d.status, 202)
    const views = await waitJob(app, id, finished, 8000)
    const last = views[views.length - 1]
    assert.equal(last.state, 'cancelled', JSON.stringify(last))
    assert.equal(last.summary?.stopped, true)
    const count = cap.count
    assert.ok(count < 10_000)
    await sleep(400)
    assert.equal(cap.count, count, 'nothing sent after the cancel')
    assert.equal(last.summary?.sent, count)
    assert.equal((await call(app, 'GET', `${ROUTE}/no-such-job`)).status, 404)
    assert.equal((await call(app, 'DELETE', `${ROUTE}/no-such-job`)).status, 404)
  })

  test('past replayMaxJobs running jobs: 429; a finished job frees its slot', async (t) => {
    const cap = await capture(t)
    const { app } = await preset(t, { adminToken: TOKEN, replayAllow: ['127.0.0.1:*'], replayMaxJobs: 2 })
    const a = await call(app, 'POST', ROUTE, { target: cap.origin, rate: 5, loop: 1000 })
    const b = await call(app, 'POST', ROUTE, { target: cap.origin, rate: 5, loop: 1000 })
    assert.equal(a.status, 202)
    assert.equal(b.status, 202)
    const c = await call(app, 'POST', ROUTE, { target: cap.origin, limit: 1 })
    assert.equal(c.status, 429, JSON.stringify(c.json))
    assert.equal((await call(app, 'DELETE', `${ROUTE}/${String(a.json.id)}`)).status, 202)
    await waitJob(app, String(a.json.id), finished)
    const d = await call(app, 'POST', ROUTE, { target: cap.origin, limit: 1 })
    assert.equal(d.status, 202, JSON.stringify(d.json))
    await call(app, 'DELETE', `${ROUTE}/${String(b.json.id)}`)
    await waitJob(app, String(b.json.id), finished)
  })

  test('a job over a damaged archive ends failed, with the reader\'s error', async (t) => {
    const cap = await capture(t, { keep: false })
    const { app, dir, files } = await preset(t, { adminToken: TOKEN, replayAllow: ['127.0.0.1:*'] }, seriesRecords(1500, 1, { bodyBytes: 1500 }).map(r => ({ ...r, body: noise(1500, Number(String(r.id).slice(2))) })))
    truncateSync(path.join(dir, files[0]), Math.floor(statSync(path.join(dir, files[0])).size * 0.75))
    const r = await call(app, 'POST', ROUTE, { target: cap.origin, files })
    assert.equal(r.status, 202)
    const views = await waitJob(app, String(r.json.id), finished)
    const last = views[views.length - 1]
    assert.equal(last.state, 'failed', JSON.stringify(last))
    assert.match(String(last.error), new RegExp(files[0].replace(/\./g, '\\.')))
    assert.ok(cap.count > 0)
  })

  test('closing the app stops running jobs', async (t) => {
    const cap = await capture(t)
    const { app } = await preset(t, { adminToken: TOKEN, replayAllow: ['127.0.0.1:*'] })
    const r = await call(app, 'POST', ROUTE, { target: cap.origin, rate: 20, loop: 1000 })
    assert.equal(r.status, 202)
    await cap.waitForCount(2)
    await app.close()
    await sleep(300)
    const count = cap.count
    await sleep(500)
    assert.equal(cap.count, count, 'the job kept sending after close')
  })
})
