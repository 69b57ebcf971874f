// Which requests the plugin records: sampling rates (random and consistent per client), the
// per-second cap, include/exclude filters, per-route config, and the capture counters.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { FastifyInstance, InjectOptions } from 'fastify'
import blackhole, { type BlackholeOptions } from '../plugin/index.js'
import { Scope, headerOf, httpRequest, listen, records, sumSkipped } from './fixtures-plugin.js'

const T = { timeout: 60_000 }

function routes (app: FastifyInstance): void {
  app.all('/*', async req => ({ url: req.url }))
}

/** |count - n·p| within 5 binomial standard deviations. */
function assertBinomial (count: number, n: number, p: number, what: string): void {
  const sd = Math.sqrt(n * p * (1 - p))
  assert.ok(Math.abs(count - n * p) <= 5 * sd, `${what}: ${count} of ${n} is not within 5σ (${(5 * sd).toFixed(1)}) of ${n * p}`)
}

/** Runs `n` inject calls, `concurrency` at a time. */
async function injectMany (app: FastifyInstance, n: number, make: (i: number) => InjectOptions, concurrency = 50): Promise<void> {
  for (let i = 0; i < n; i += concurrency) {
    const batch = []
    for (let j = i; j < Math.min(n, i + concurrency); j++) batch.push(app.inject(make(j)))
    for (const res of await Promise.all(batch)) assert.equal(res.statusCode, 200)
  }
}

function assertCountersAddUp (app: FastifyInstance): void {
  const c = app.archive.stats().capture
  assert.equal(c.seen, c.recorded + sumSkipped(c.skipped) + c.errors, `seen = recorded + skipped + errors: ${JSON.stringify(c)}`)
}

test('sample 0 records nothing, sample 1 records everything (inject and sockets)', T, async t => {
  const scope = new Scope(t)
  for (const sample of [0, 1]) {
    const dir = await scope.dir('sample01')
    const app = await scope.app(routes, { dir, sample })
    await injectMany(app, 50, i => ({ method: i % 2 === 0 ? 'GET' as const : 'POST' as const, url: `/r/${i}`, payload: i % 2 === 0 ? undefined : { i } }))
    const port = await listen(app)
    for (let i = 0; i < 5; i++) assert.equal((await httpRequest(port, { path: `/s/${i}` })).status, 200)
    const c = app.archive.stats().capture
    await app.close()
    const recs = await records(dir)
    assert.equal(c.seen, 55)
    if (sample === 0) {
      assert.equal(recs.length, 0)
      assert.equal(c.recorded, 0)
      assert.equal(c.skipped.sample, 55)
    } else {
      assert.equal(recs.length, 55)
      assert.equal(c.recorded, 55)
      assert.equal(c.skipped.sample, 0)
      assert.deepEqual(new Set(recs.map(r => r.uri)).size, 55)
    }
    assertCountersAddUp(app)
  }
})

test('sample 0.3 over 2000 requests: recorded count within a 5σ binomial bound', T, async t => {
  const scope = new Scope(t)
  const dir = await scope.dir('sample03')
  const app = await scope.app(routes, { dir, sample: 0.3 })
  await injectMany(app, 2000, i => ({ url: `/r/${i}` }))
  const c = app.archive.stats().capture
  await app.close()
  const recs = await records(dir)
  assertBinomial(recs.length, 2000, 0.3, 'sample 0.3')
  assert.equal(c.recorded, recs.length)
  assert.equal(c.skipped.sample, 2000 - recs.length)
  assert.equal(new Set(recs.map(r => r.uri)).size, recs.length, 'no request recorded twice')
  assertCountersAddUp(app)
})

test('consistent sampling by header: every user all in or all out, stable across app instances', T, async t => {
  const scope = new Scope(t)
  const users = Array.from({ length: 200 }, (_, i) => `user-${i}@example.test`)
  const ins: Array<Set<string>> = []
  for (let run = 0; run < 2; run++) {
    const dir = await scope.dir('consistent')
    const app = await scope.app(routes, { dir, sample: 0.5, sampleBy: { header: 'X-User' } })
    // Interleaved: each user's 5 requests are spread over the whole run.
    await injectMany(app, 1000, i => ({ url: `/r/${i}`, headers: { 'x-user': users[i % 200] } }))
    await app.close()
    const perUser = new Map<string, number>()
    for (const r of await records(dir)) {
      const u = headerOf(r.headers, 'x-user') as string
      perUser.set(u, (perUser.get(u) ?? 0) + 1)
    }
    for (const [u, n] of perUser) assert.equal(n, 5, `${u} recorded ${n} of 5 times`)
    assertBinomial(perUser.size, 200, 0.5, 'users in')
    ins.push(new Set(perUser.keys()))
  }
  assert.deepEqual([...ins[1]].sort(), [...ins[0]].sort(), 'the same users are in for a new app instance')
})

test('consistent sampling by header: requests without the header are sampled at random', T, async t => {
  const scope = new Scope(t)
  const dir = await scope.dir('consistent-none')
  const app = await scope.app(routes, { dir, sample: 0.5, sampleBy: { header: 'x-user' } })
  await injectMany(app, 400, i => ({ url: `/r/${i}` }))
  await app.close()
  assertBinomial((await records(dir)).length, 400, 0.5, 'no header')
})

test('consistent sampling by ip: every address all in or all out, sockets agree with inject', T, async t => {
  const scope = new Scope(t)
  const dir = await scope.dir('by-ip')
  const app = await scope.app(routes, { dir, sample: 0.5, sampleBy: 'ip' })
  const ips = Array.from({ length: 100 }, (_, i) => `10.${i % 7}.${(i * 37) % 256}.${i}`)
  await injectMany(app, 400, i => ({ url: `/ip/${i}`, remoteAddress: ips[i % 100] }))
  // 127.0.0.1 over inject, then over real sockets: same fate.
  await injectMany(app, 3, i => ({ url: `/local/inject/${i}`, remoteAddress: '127.0.0.1' }))
  const port = await listen(app)
  for (let i = 0; i < 4; i++) assert.equal((await httpRequest(port, { path: `/local/socket/${i}` })).status, 200)
  await app.close()
  const recs = await records(dir)
  const perIp = new Map<string, number>()
  for (const r of recs.filter(r => r.uri.startsWith('/ip/'))) perIp.set(r.remoteAddr, (perIp.get(r.remoteAddr) ?? 0) + 1)
  for (const [ip, n] of perIp) assert.equal(n, 4, `${ip} recorded ${n} of 4 times`)
  assertBinomial(perIp.size, 100, 0.5, 'addresses in')
  const local = recs.filter(r => r.uri.startsWith('/local/')).length
  assert.ok(local === 0 || local === 7, `127.0.0.1 is all in or all out (${local} of 7 recorded)`)
})

test('maxPerSecond caps the records of a second; stats.skipped.rate counts the rest', T, async t => {
  const scope = new Scope(t)
  const dir = await scope.dir('rate')
  const app = await scope.app(routes, { dir, maxPerSecond: 10 })
  const start = Date.now()
  await injectMany(app, 60, i => ({ url: `/r/${i}` }), 60)
  // However slow the machine, the requests span at most this many one-second windows.
  const windows = Math.floor((Date.now() - start) / 1000) + 1
  const c = app.archive.stats().capture
  await app.close()
  const n = (await records(dir)).length
  assert.ok(n >= 10 && n <= 10 * windows, `${n} records for ${windows} window(s) at 10/s`)
  assert.equal(c.recorded, n)
  assert.equal(c.skipped.rate, 60 - n)
  assertCountersAddUp(app)
})

/** Sends each [method, url] and returns the "METHOD url" of the recorded ones, sorted. */
async function recordedOf (scope: Scope, bh: Partial<BlackholeOptions>, reqs: Array<[string, string]>): Promise<{ recorded: string[], filtered: number }> {
  const dir = await scope.dir('filter')
  const app = await scope.app(routes, { dir, ...bh })
  for (const [method, url] of reqs) {
    const res = await app.inject({ method: method as 'GET', url })
    assert.equal(res.statusCode, 200, `${method} ${url}`)
  }
  const filtered = app.archive.stats().capture.skipped.filter
  await app.close()
  return { recorded: (await records(dir)).map(r => `${r.method} ${r.uri}`).sort(), filtered }
}

test('include and exclude by method, URL prefix and RegExp', T, async t => {
  const scope = new Scope(t)
  const reqs: Array<[string, string]> = [
    ['GET', '/api/users'], ['POST', '/api/users'], ['GET', '/v2/items'], ['GET', '/v2/items?again=1'], ['GET', '/v2/items?again=2'],
    ['DELETE', '/v10/x'], ['GET', '/health'], ['GET', '/img/a.png'], ['OPTIONS', '/api/users'], ['GET', '/other']
  ]
  const all = reqs.map(([m, u]) => `${m} ${u}`)

  let r = await recordedOf(scope, { include: { methods: ['post', 'DELETE'] } }, reqs)
  assert.deepEqual(r.recorded, ['DELETE /v10/x', 'POST /api/users'])
  assert.equal(r.filtered, reqs.length - 2)

  // A /g RegExp must not alternate through lastIndex: all three /v2 requests match.
  r = await recordedOf(scope, { include: { urls: ['/api/', /^\/v\d+\//g] } }, reqs)
  assert.deepEqual(r.recorded, ['DELETE /v10/x', 'GET /api/users', 'GET /v2/items', 'GET /v2/items?again=1', 'GET /v2/items?again=2', 'OPTIONS /api/users', 'POST /api/users'])

  // include: every given criterion must match.
  r = await recordedOf(scope, { include: { methods: ['GET'], urls: ['/api/', /^\/v2\//] } }, reqs)
  assert.deepEqual(r.recorded, ['GET /api/users', 'GET /v2/items', 'GET /v2/items?again=1', 'GET /v2/items?again=2'])

  // exclude: either criterion suffices.
  r = await recordedOf(scope, { exclude: { methods: ['OPTIONS'], urls: ['/health', /\.png$/] } }, reqs)
  assert.deepEqual(r.recorded, all.filter(s => !['OPTIONS /api/users', 'GET /health', 'GET /img/a.png'].includes(s)).sort())
  assert.equal(r.filtered, 3)

  // Both: included and not excluded.
  r = await recordedOf(scope, { include: { urls: ['/api/', '/v2/'] }, exclude: { methods: ['POST'], urls: [/again=2/] } }, reqs)
  assert.deepEqual(r.recorded, ['GET /api/users', 'GET /v2/items', 'GET /v2/items?again=1', 'OPTIONS /api/users'])
})

test('per-route config: blackhole false turns capture off, { sample } overrides the global rate', T, async t => {
  const scope = new Scope(t)
  const perRoute = async (app: FastifyInstance): Promise<void> => {
    app.get('/plain', async () => 'plain')
    app.get('/off', { config: { blackhole: false } }, async () => 'off')
    app.get('/always', { config: { blackhole: { sample: 1 } } }, async () => 'always')
    app.get('/never', { config: { blackhole: { sample: 0 } } }, async () => 'never')
    await app.register(async child => {
      child.post('/child/always', { config: { blackhole: { sample: 1 } } }, async () => 'child')
      child.post('/child/off', { config: { blackhole: false } }, async () => 'child off')
    })
  }
  const urls: Array<['GET' | 'POST', string]> = [['GET', '/plain'], ['GET', '/off'], ['GET', '/always'], ['GET', '/never'], ['POST', '/child/always'], ['POST', '/child/off']]
  for (const sample of [0, 1]) {
    const dir = await scope.dir('route')
    const app = await scope.app(perRoute, { dir, sample })
    const port = await listen(app)
    for (const [method, url] of urls) {
      for (let i = 0; i < 3; i++) assert.equal((await app.inject({ method, url })).statusCode, 200)
      assert.equal((await httpRequest(port, { method, path: url })).status, 200)
    }
    const c = app.archive.stats().capture
    await app.close()
    const got = (await records(dir)).map(r => r.uri)
    const expected = sample === 0 ? ['/always', '/child/always'] : ['/plain', '/always', '/child/always']
    assert.deepEqual([...new Set(got)].sort(), expected.sort(), `global sample ${sample}`)
    assert.equal(got.length, expected.length * 4)
    assert.equal(c.skipped.route, 8, 'two routes off, 4 requests each')
    assert.equal(c.skipped.sample, sample === 0 ? 8 : 4)
    assertCountersAddUp(app)
  }
})

test('invalid route config is an error at route registration or ready(), naming the route', T, async t => {
  const scope = new Scope(t)
  const dir = await scope.dir('route-bad')
  const cases: Array<[unknown, RegExp]> = [
    ['yes', /config\.blackhole.*GET \/bad/],
    [{ sample: 2 }, /config\.blackhole\.sample.*GET \/bad/],
    [{ sample: 'all' }, /config\.blackhole\.sample/],
    [{ rate: 1 }, /config\.blackhole.*GET \/bad/],
    [0, /config\.blackhole/]
  ]
  for (const [bad, message] of cases) {
    // At the root, after the plugin: the route call itself (or ready) fails.
    const app = scope.fastify()
    await app.register(blackhole, { dir })
    let err: unknown
    try {
      app.get('/bad', { config: { blackhole: bad as false } }, async () => 'x')
      await app.ready()
    } catch (e) {
      err = e
    }
    assert.ok(err instanceof Error, `config.blackhole ${JSON.stringify(bad)} was accepted at the root`)
    assert.match(err.message, message)
    await app.close().catch(() => {})

    // In a child plugin: ready() rejects.
    const app2 = scope.fastify()
    await app2.register(blackhole, { dir })
    app2.register(async child => {
      child.get('/bad', { config: { blackhole: bad as false } }, async () => 'x')
    })
    await assert.rejects(async () => { await app2.ready() }, message)
  }
})

test('routes registered before the plugin in the same context: captured, opt-out honoured, config validated', T, async t => {
  const scope = new Scope(t)
  const dir = await scope.dir('route-before')
  const ok = scope.fastify()
  ok.get('/early', async () => 'early')
  ok.get('/early-off', { config: { blackhole: false } }, async () => 'off')
  await ok.register(blackhole, { dir })
  ok.get('/late', async () => 'late')
  for (const url of ['/early', '/early-off', '/late']) assert.equal((await ok.inject({ url })).statusCode, 200)
  await ok.close()
  assert.deepEqual((await records(dir)).map(r => r.uri), ['/early', '/late'], 'the plugin\'s hooks reach earlier routes of its context')

  // The onRoute check cannot see a route registered before the plugin: its bad config is
  // ignored at request time (and logged once) instead of failing registration.
  const badDir = await scope.dir('route-before-bad')
  const lines: string[] = []
  const bad = scope.fastify({ logger: { level: 'error', stream: { write: (l: string) => { lines.push(l) } } } })
  bad.get('/early-bad', { config: { blackhole: 'yes' as never } }, async () => 'bad')
  await bad.register(blackhole, { dir: badDir })
  await bad.ready()
  for (let i = 0; i < 3; i++) assert.equal((await bad.inject({ url: '/early-bad' })).statusCode, 200)
  await bad.close()
  assert.equal((await records(badDir)).length, 3, 'the route is recorded with the plugin\'s own settings')
  assert.equal(lines.filter(l => l.includes('config.blackhole')).length, 1, 'the invalid config is logged once')
})

test('stats().capture counters add up over a mix of filters, route opt-outs, sampling and the cap', T, async t => {
  const scope = new Scope(t)
  const dir = await scope.dir('stats')
  const app = await scope.app(app => {
    app.get('/off', { config: { blackhole: false } }, async () => 'off')
    routes(app)
  }, { dir, sample: 0.5, maxPerSecond: 1000, exclude: { urls: ['/skip'] } })
  await injectMany(app, 300, i => ({ url: ['/a', '/off', '/skip', '/b'][i % 4] + `?i=${i}` }))
  const port = await listen(app)
  for (let i = 0; i < 8; i++) assert.equal((await httpRequest(port, { path: ['/a', '/off', '/skip', '/b'][i % 4] })).status, 200)
  const c = app.archive.stats().capture
  await app.close()
  const recs = await records(dir)
  assert.equal(c.seen, 308)
  assert.equal(c.skipped.route, 77)
  assert.equal(c.skipped.filter, 77)
  assert.equal(c.recorded, recs.length)
  assert.equal(c.recorded + c.skipped.sample + c.skipped.rate, 154)
  assert.equal(c.errors, 0)
  assertCountersAddUp(app)
  assert.ok(recs.every(r => r.uri.startsWith('/a') || r.uri.startsWith('/b')))
})
