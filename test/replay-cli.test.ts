// `blackhole replay` as a child process (the compiled CLI next to this file): the JSON and text
// summaries, exit codes against --max-errors/--max-mismatch, --dry-run, filters and rewrites
// from flags, bad flags (exit 2 naming the flag), Ctrl-C (summary so far, exit 130, --drain),
// and the progress line on a TTY only. Every process is stopped by its PID.
import { test, describe, after } from 'node:test'
import assert from 'node:assert/strict'
import type { TestContext } from 'node:test'
import { readdirSync, statSync, truncateSync } from 'node:fs'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import type { ReplaySummary } from '../lib/replay/replay.js'
import type { RequestRecord } from '../lib/format/record.js'
import {
  archiveFor, captureFor, CLI, cliEnv, closedPort, errorCount, errorKinds, fidelityRecords, killAll, MS_NS, noise, Proc, rawValues,
  runCli, seriesRecords, T0_NS
} from './fixtures-replay.js'
import { hasTool } from './tools.js'

after(killAll)

const archive = (t: TestContext, records: readonly RequestRecord[]): Promise<string> => archiveFor(t, records, 'cli')
const capture = captureFor

function summaryOf (stdout: string): ReplaySummary {
  try {
    return JSON.parse(stdout) as ReplaySummary
  } catch {
    throw new Error(`stdout is not one JSON summary:\n${stdout}`)
  }
}

describe('summary and exit codes', { concurrency: 4 }, () => {
  test('--json prints one parseable summary; exit 0; nothing on stderr when not a TTY', async (t) => {
    const dir = await archive(t, seriesRecords(12, 5, { status: 200 }))
    const cap = await capture(t)
    const r = await runCli(['replay', '--target', cap.origin, '--json', dir])
    assert.equal(r.exit?.code, 0, r.stderr)
    assert.equal(r.stderr, '', 'no progress line on a non-TTY')
    const s = summaryOf(r.stdout)
    assert.equal(s.sent, 12)
    assert.equal(s.answered, 12)
    assert.deepEqual(s.statuses, { 200: 12 })
    assert.equal(errorCount(s.errors), 0, JSON.stringify(s.errors))
    assert.equal(s.compared, 12)
    assert.equal(s.mismatched, 0)
    assert.equal(s.stopped, false)
    for (const k of ['p50', 'p90', 'p99', 'p999', 'max', 'mean'] as const) assert.equal(typeof s.latency[k], 'number')
    assert.ok(s.achievedRate > 0)
    assert.equal(cap.count, 12)
  })

  test('the text summary names sent, statuses, errors, latency and the recorded-status comparison', async (t) => {
    const dir = await archive(t, seriesRecords(4, 5, { status: 200 }))
    const cap = await capture(t, { status: 201 })
    const r = await runCli(['replay', '--target', cap.origin, '--rate', '200', '--max-mismatch', '4', dir])
    assert.equal(r.exit?.code, 0, r.stderr)
    assert.match(r.stdout, /^sent 4, answered 4 in [\d.]+ s \([\d.]+ req\/s\)$/m)
    assert.match(r.stdout, /^records read 4, matched 4$/m)
    assert.match(r.stdout, /^statuses: 201=4$/m)
    assert.match(r.stdout, /^errors: connect=0 timeout=0 reset=0 (\w+=0 )*other=0; failed statuses=0$/m)
    assert.match(r.stdout, /^latency ms: p50=[\d.]+ p90=[\d.]+ p99=[\d.]+ p99\.9=[\d.]+ max=[\d.]+ mean=[\d.]+$/m)
    assert.match(r.stdout, /^schedule lag ms: mean=[\d.]+ p99=[\d.]+ max=[\d.]+$/m)
    assert.match(r.stdout, /^recorded status differs: 4 of 4$/m)
  })

  test('--max-errors with failing statuses: exit 1 beyond it, 0 within it', async (t) => {
    const dir = await archive(t, seriesRecords(4, null))
    const cap = await capture(t, { status: 500 })
    const [over, within, dflt] = await Promise.all([
      runCli(['replay', '--target', cap.origin, '--json', '--max-errors', '3', dir]),
      runCli(['replay', '--target', cap.origin, '--json', '--max-errors', '4', dir]),
      runCli(['replay', '--target', cap.origin, '--json', dir])
    ])
    assert.equal(over.exit?.code, 1, over.stderr)
    assert.equal(within.exit?.code, 0, within.stderr)
    assert.equal(dflt.exit?.code, 1, 'default --max-errors 0')
    assert.equal(summaryOf(over.stdout).failedStatus, 4)
    assert.equal(summaryOf(within.stdout).failed, 4)
  })

  test('--fail-status decides which answers fail', async (t) => {
    const dir = await archive(t, seriesRecords(3, null))
    const cap = await capture(t, { status: 404 })
    const [dflt, listed, none] = await Promise.all([
      runCli(['replay', '--target', cap.origin, '--json', dir]),
      runCli(['replay', '--target', cap.origin, '--json', '--fail-status', '4xx,503', dir]),
      runCli(['replay', '--target', cap.origin, '--json', '--fail-status', 'none', dir])
    ])
    assert.equal(dflt.exit?.code, 0)
    assert.equal(listed.exit?.code, 1)
    assert.equal(summaryOf(listed.stdout).failedStatus, 3)
    assert.equal(none.exit?.code, 0)
  })

  test('transport errors count against --max-errors (connection refused)', async (t) => {
    const dir = await archive(t, seriesRecords(3, null))
    const port = await closedPort()
    const [over, within] = await Promise.all([
      runCli(['replay', '--target', `http://127.0.0.1:${port}`, '--json', dir]),
      runCli(['replay', '--target', `http://127.0.0.1:${port}`, '--json', '--max-errors', '3', dir])
    ])
    assert.equal(over.exit?.code, 1)
    assert.equal(within.exit?.code, 0)
    const e = errorKinds(summaryOf(over.stdout).errors, { connect: 3 })
    assert.deepEqual(e.actual, e.expected)
  })

  test('--max-mismatch: exit 1 beyond it, 0 within it', async (t) => {
    const dir = await archive(t, seriesRecords(4, null, { status: 200 }))
    const cap = await capture(t, { status: 404 })
    const [over, within] = await Promise.all([
      runCli(['replay', '--target', cap.origin, '--json', '--max-mismatch', '3', dir]),
      runCli(['replay', '--target', cap.origin, '--json', '--max-mismatch', '4', dir])
    ])
    assert.equal(over.exit?.code, 1)
    assert.equal(within.exit?.code, 0)
    const s = summaryOf(over.stdout)
    assert.equal(s.compared, 4)
    assert.equal(s.mismatched, 4)
    assert.equal(s.failed, 0)
  })

  test('--loop and --multiply counts are exact; --set-header templates tell copies apart', async (t) => {
    const dir = await archive(t, seriesRecords(3, 5))
    const cap = await capture(t)
    const r = await runCli(['replay', '--target', cap.origin, '--json', '--loop', '2', '--multiply', '5', '--set-header', 'X-Replay-Id: {n}-{copy}-{loop}-{id}', dir])
    assert.equal(r.exit?.code, 0, r.stderr)
    assert.equal(summaryOf(r.stdout).sent, 30)
    assert.equal(cap.count, 30)
    const ids = cap.received.map(c => rawValues(c.rawHeaders, 'X-Replay-Id')[0])
    assert.equal(new Set(ids).size, 30)
    assert.ok(ids.every(v => /^\d+-[0-4]-[01]-s-[0-2]$/.test(v)), ids.join(' '))
  })

  test('--duration stops in time', async (t) => {
    const dir = await archive(t, seriesRecords(10, 5))
    const cap = await capture(t, { delayMs: 5, keep: false })
    const r = await runCli(['replay', '--target', cap.origin, '--json', '--concurrency', '2', '--duration', '1s', dir])
    assert.equal(r.exit?.code, 0, r.stderr)
    const s = summaryOf(r.stdout)
    assert.ok(s.durationMs >= 1000 && s.durationMs < 2500, `ran ${s.durationMs} ms`)
    assert.ok(s.sent > 10, 'looped')
    assert.equal(cap.count, s.sent)
  })

  test('--speed on records without arrival times: exit 2 with the reason, nothing sent', async (t) => {
    const dir = await archive(t, seriesRecords(3, null))
    const cap = await capture(t)
    const r = await runCli(['replay', '--target', cap.origin, '--speed', '2', dir])
    assert.equal(r.exit?.code, 2)
    assert.match(r.stderr, /no arrival time/)
    assert.equal(cap.count, 0)
  })

  test('a damaged archive: exit 1 with one line naming the file', async (t) => {
    const dir = await archive(t, seriesRecords(1500, 1, { bodyBytes: 1500 }).map(r => ({ ...r, body: noise(1500, Number(String(r.id).slice(2))) })))
    const file = path.join(dir, readdirSync(dir).filter(n => n.endsWith('.lz4'))[0])
    truncateSync(file, Math.floor(statSync(file).size * 0.75))
    const cap = await capture(t, { keep: false })
    const r = await runCli(['replay', '--target', cap.origin, '--json', dir])
    assert.equal(r.exit?.code, 1, r.stderr)
    assert.match(r.stderr, new RegExp(`^blackhole replay: [^\n]*${path.basename(file).replace(/\./g, '\\.')}[^\n]*\n$`))
    assert.ok(cap.count > 0, 'the records before the damage were sent')
  })

  test('a record whose request target is "*" (OPTIONS *) does not stop the replay', async (t) => {
    // `OPTIONS * HTTP/1.1` is a valid request a sink records. Whatever replay does with it
    // (send it or count an error), the other records must still be sent and a summary printed.
    const records: RequestRecord[] = [
      { id: 'a', method: 'GET', uri: '/a', headers: 'Host: x\r\n\r\n' },
      { id: 'star', method: 'OPTIONS', uri: '*', headers: 'Host: x\r\n\r\n' },
      { id: 'b', method: 'GET', uri: '/b', headers: 'Host: x\r\n\r\n' },
      { id: 'c', method: 'GET', uri: '/c', headers: 'Host: x\r\n\r\n' }
    ]
    const dir = await archive(t, records)
    const cap = await capture(t)
    const r = await runCli(['replay', '--target', cap.origin, '--concurrency', '1', '--json', '--max-errors', '1', dir], 15_000)
    assert.deepEqual(cap.received.map(c => `${c.method} ${c.url}`).filter(x => x !== 'OPTIONS *'), ['GET /a', 'GET /b', 'GET /c'], `exit ${JSON.stringify(r.exit)}, stdout ${JSON.stringify(r.stdout)}`)
    assert.equal(r.exit?.code, 0, `exit ${JSON.stringify(r.exit)} (13 = unsettled top-level await), stderr ${r.stderr}`)
    assert.equal(summaryOf(r.stdout).sent, 4)
  })
})

describe('--dry-run', { concurrency: 4 }, () => {
  test('prints method, URL, headers and body size; sends nothing', async (t) => {
    const records = fidelityRecords().filter(r => ['text', 'dup', 'absolute', 'big', 'chunked'].includes(String(r.id)))
    const dir = await archive(t, records)
    const cap = await capture(t)
    const r = await runCli(['replay', '--target', `${cap.origin}/base`, '--dry-run', dir])
    assert.equal(r.exit?.code, 0, r.stderr)
    await new Promise(resolve => setTimeout(resolve, 100))
    assert.equal(cap.count, 0, 'a dry run sends nothing')
    const blocks = r.stdout.trimEnd().split(/\n(?=[A-Z]+ http)/)
    assert.equal(blocks.length, 5, r.stdout)
    assert.equal(blocks[0], [
      `POST ${cap.origin}/base/text?x=1&y=caf%C3%A9`,
      '  Content-Type: text/plain; charset=utf-8',
      '  User-Agent: curl/8.5.0',
      '  [body 13 bytes]'
    ].join('\n'))
    assert.match(blocks[1], new RegExp(`^POST ${cap.origin}/base/upload/big\n  Content-Type: application/octet-stream\n  \\[body ${5 << 20} bytes\\]$`))
    assert.match(blocks[2], /\n {2}X-Dup: one\n {2}x-dup: two\n {2}X-DUP: three\n/)
    assert.match(blocks[3], new RegExp(`^GET ${cap.origin}/base/items/9\\?force=1\n  Accept: \\*/\\*\n  \\[body 0 bytes\\]$`))
    assert.match(blocks[4], /^POST .*\/base\/chunked\n {2}Content-Type: text\/plain\n {2}\[body 18 bytes\]$/)
  })

  test('works without --target', async (t) => {
    const dir = await archive(t, seriesRecords(2, null))
    const r = await runCli(['replay', '--dry-run', dir])
    assert.equal(r.exit?.code, 0, r.stderr)
    assert.match(r.stdout, /^POST http:\/\/[^/]+\/s\/0\?q=0$/m)
    assert.match(r.stdout, /\[body \d+ bytes\]/)
  })

  test('filters from flags: --method --path --header --since --until --id --limit --sample --seed', async (t) => {
    const records: RequestRecord[] = Array.from({ length: 12 }, (_, i) => ({
      id: `f-${i}`,
      method: ['GET', 'POST', 'PUT', 'DELETE'][i % 4],
      uri: `/${i % 3 === 0 ? 'api' : 'static'}/${i}`,
      headers: `Host: h\r\nX-Tenant: ${i % 2 === 1 ? 'acme' : 'globex'}\r\n\r\n`,
      timeNs: T0_NS + BigInt(i) * 1000n * MS_NS
    }))
    const dir = await archive(t, records)
    const t0 = Number(T0_NS / MS_NS)
    const uris = (out: string): number[] => [...out.matchAll(/^[A-Z]+ http:\/\/[^/]+\/\w+\/(\d+)$/gm)].map(m => Number(m[1]))
    const cases: Array<[string[], number[]]> = [
      [['--method', 'post', '--method', 'DELETE'], [1, 3, 5, 7, 9, 11]],
      [['--path', '^/api/'], [0, 3, 6, 9]],
      [['--header', 'x-tenant: ^acme$'], [1, 3, 5, 7, 9, 11]],
      [['--since', String(t0 + 3000), '--until', new Date(t0 + 6000).toISOString()], [3, 4, 5]],
      [['--id', 'f-2', '--id', 'f-10'], [2, 10]],
      [['--limit', '3', '--method', 'GET'], [0, 4, 8]],
      [['--header', 'X-Tenant: acme', '--path', '/static/'], [1, 5, 7, 11]]
    ]
    const runs = await Promise.all(cases.map(([flags]) => runCli(['replay', '--dry-run', ...flags, dir])))
    runs.forEach((r, i) => {
      assert.equal(r.exit?.code, 0, r.stderr)
      assert.deepEqual(uris(r.stdout), cases[i][1], cases[i][0].join(' '))
    })
    const [a, b, c] = await Promise.all([
      runCli(['replay', '--dry-run', '--sample', '0.5', '--seed', '3', dir]),
      runCli(['replay', '--dry-run', '--sample', '0.5', '--seed', '3', dir]),
      runCli(['replay', '--dry-run', '--sample', '0.5', '--seed', '4', dir])
    ])
    assert.deepEqual(uris(a.stdout), uris(b.stdout), 'same seed, same sample')
    assert.ok(uris(a.stdout).length < 12)
    assert.notDeepEqual(uris(a.stdout), uris(c.stdout), 'another seed, another sample')
  })

  test('rewrites from flags: --set-header --remove-header --rewrite-path --keep-host', async (t) => {
    const dir = await archive(t, [{ id: 'r', method: 'POST', uri: '/v1/users/7?x=1', headers: 'Host: recorded.example\r\nAuthorization: Bearer s3cret\r\nX-Keep: k\r\nX-Env: prod\r\n\r\n', body: Buffer.from('b') }])
    const r = await runCli(['replay', '--dry-run', '--target', 'http://127.0.0.1:9/root/', '--keep-host',
      '--set-header', 'X-Env: replay-{n}', '--set-header', 'X-Copy:{copy}', '--remove-header', 'authorization',
      '--rewrite-path', '^/v1/:/v2/', '--rewrite-path', 'x=(\\d+):y=$1:z', dir])
    assert.equal(r.exit?.code, 0, r.stderr)
    assert.equal(r.stdout, [
      'POST http://127.0.0.1:9/root/v2/users/7?y=1:z',
      '  Host: recorded.example',
      '  X-Keep: k',
      '  X-Env: replay-1',
      '  X-Copy: 0',
      '  [body 1 bytes]',
      ''
    ].join('\n'))
  })
})

describe('bad flags', () => {
  test('exit 2 with one line naming the flag; nothing sent', async (t) => {
    const dir = await archive(t, seriesRecords(2, 5))
    const cap = await capture(t)
    const target = ['--target', cap.origin]
    const cases: Array<[string[], RegExp]> = [
      [[...target, '--bogus', dir], /--bogus/],
      [[...target, '--rate', 'fast', dir], /--rate/],
      [[...target, '--rate', '0', dir], /--rate/],
      [[...target, '--speed', '-1', dir], /--speed/],
      [[...target, '--rate', '10', '--speed', '2', dir], /--rate and --speed/],
      [[...target, '--max-wait', '1s', dir], /--max-wait/],
      [[...target, '--speed', '2', '--max-wait', 'soon', dir], /--max-wait/],
      [[...target, '--concurrency', '0', dir], /--concurrency/],
      [[...target, '--connections', 'many', dir], /--connections/],
      [[...target, '--loop', '0', dir], /--loop/],
      [[...target, '--multiply', '1.5', dir], /--multiply/],
      [[...target, '--duration', 'forever', dir], /--duration/],
      [[...target, '--limit', '-3', dir], /--limit/],
      [[...target, '--sample', '1.5', dir], /--sample/],
      [[...target, '--seed', 'x', dir], /--seed/],
      [[...target, '--path', '(', dir], /--path/],
      [[...target, '--header', 'NoColon', dir], /--header/],
      [[...target, '--header', 'X: [', dir], /--header/],
      [[...target, '--since', 'yesterday', dir], /--since/],
      [[...target, '--until', 'later', dir], /--until/],
      [[...target, '--set-header', 'novalue', dir], /--set-header/],
      [[...target, '--rewrite-path', 'nocolon', dir], /--rewrite-path/],
      [[...target, '--timeout', '10 parsecs', dir], /--timeout/],
      [[...target, '--fail-status', '5yy', dir], /--fail-status/],
      [[...target, '--max-errors', 'some', dir], /--max-errors/],
      [[...target, '--max-mismatch', '-1', dir], /--max-mismatch/],
      [[...target, '--drain', 'x', dir], /--drain/],
      [['--target', 'ftp://127.0.0.1/', dir], /--target/],
      [['--target', 'not a url', dir], /--target/],
      [[dir], /--target/],
      [[...target], /missing argument/]
    ]
    const results = []
    for (let i = 0; i < cases.length; i += 8) {
      results.push(...await Promise.all(cases.slice(i, i + 8).map(([args]) => runCli(['replay', ...args]))))
    }
    results.forEach((r, i) => {
      const what = cases[i][0].join(' ')
      assert.equal(r.exit?.code, 2, `${what}: exit ${JSON.stringify(r.exit)}\n${r.stderr}`)
      assert.match(r.stderr, cases[i][1], what)
      assert.match(r.stderr, /^blackhole replay: [^\n]+\n$/, `${what}: one line on stderr`)
      assert.equal(r.stdout, '', what)
    })
    assert.equal(cap.count, 0, 'no bad command line sent anything')
  })
})

describe('Ctrl-C', { concurrency: 3 }, () => {
  test('SIGINT during a slow replay prints the summary so far and exits 130', async (t) => {
    const dir = await archive(t, seriesRecords(10, 5))
    const cap = await capture(t, { delayMs: 300 })
    const p = new Proc(process.execPath, [CLI, 'replay', '--target', cap.origin, '--concurrency', '2', '--loop', '100', dir], { env: cliEnv() })
    await cap.waitForCount(4)
    p.signal('SIGINT')
    const exit = await p.waitExit(10_000)
    assert.deepEqual(exit, { code: 130, signal: null }, p.output)
    assert.match(p.stdout, /^sent (\d+), answered (\d+) in [\d.]+ s .*stopped early$/m)
    const m = /^sent (\d+), answered (\d+)/.exec(p.stdout)
    assert.ok(m !== null && Number(m[1]) < 1000 && Number(m[1]) >= 4, p.stdout)
    assert.equal(Number(m[1]), Number(m[2]), 'in-flight requests finished within the drain time')
    assert.match(p.stderr, /stopping/)
    assert.equal(cap.count, Number(m[1]))
  })

  test('SIGINT with --json: the JSON summary says stopped', async (t) => {
    const dir = await archive(t, seriesRecords(10, 5))
    const cap = await capture(t, { delayMs: 200 })
    const p = new Proc(process.execPath, [CLI, 'replay', '--target', cap.origin, '--rate', '20', '--loop', '100', '--json', dir], { env: cliEnv() })
    await cap.waitForCount(3)
    p.signal('SIGINT')
    const exit = await p.waitExit(10_000)
    assert.equal(exit?.code, 130, p.output)
    const s = summaryOf(p.stdout)
    assert.equal(s.stopped, true)
    assert.ok(s.sent >= 3 && s.sent < 1000)
  })

  for (const pacing of [['--rate', '50'], ['--concurrency', '2']]) {
    test(`SIGINT against a target that never answers (${pacing.join(' ')}): in-flight requests get --drain, not --timeout`, async (t) => {
      const dir = await archive(t, seriesRecords(10, 5))
      const cap = await capture(t, { behavior: 'hang' })
      const p = new Proc(process.execPath, [CLI, 'replay', '--target', cap.origin, ...pacing, '--drain', '500ms', '--timeout', '60s', dir], { env: cliEnv() })
      await cap.waitForCount(2)
      const t0 = performance.now()
      p.signal('SIGINT')
      const exit = await p.waitExit(8000)
      const ms = performance.now() - t0
      assert.ok(exit !== null, `still running ${Math.round(ms)} ms after SIGINT with --drain 500ms (killed)\n${p.output}`)
      assert.equal(exit.code, 130, p.output)
      assert.ok(ms < 5000, `exited ${Math.round(ms)} ms after SIGINT`)
      assert.match(p.stdout, /^sent \d+/m)
    })
  }

  test('a second SIGINT quits at once (130)', async (t) => {
    const dir = await archive(t, seriesRecords(10, 5))
    const cap = await capture(t, { behavior: 'hang' })
    const p = new Proc(process.execPath, [CLI, 'replay', '--target', cap.origin, '--concurrency', '2', '--drain', '30s', '--timeout', '60s', dir], { env: cliEnv() })
    await cap.waitForCount(2)
    p.signal('SIGINT')
    await new Promise(resolve => setTimeout(resolve, 300))
    const t0 = performance.now()
    p.signal('SIGINT')
    const exit = await p.waitExit(8000)
    assert.equal(exit?.code, 130, p.output)
    assert.ok(performance.now() - t0 < 3000)
  })
})

test('on a TTY, a live progress line (count, rate, errors) goes to stderr', async (t) => {
  if (!hasTool('script')) {
    t.skip('script (util-linux) not installed: no way to give the CLI a pseudo-terminal')
    return
  }
  const dir = await archive(t, seriesRecords(12, 5))
  const cap = await capture(t)
  const cmd = [process.execPath, CLI, 'replay', '--target', cap.origin, '--rate', '15', '--limit', '12', dir].map(a => `'${a.replace(/'/g, "'\\''")}'`).join(' ')
  const p = new Proc('script', ['-qefc', cmd, '/dev/null'], { env: cliEnv() })
  const exit = await p.waitExit(20_000)
  assert.equal(exit?.code, 0, p.output)
  assert.match(p.stdout, /\rsent \d+ {2}answered \d+ {2}\d+ req\/s {2}errors 0 {2}ETA \d+ s/, JSON.stringify(p.stdout))
  assert.match(p.stdout, /^sent 12, answered 12/m)
  assert.equal(cap.count, 12)
})
