// Bad configuration, table-driven over the real option lists: every flag of `blackhole serve`
// (from serveSpec, so a new flag without a row here fails) with a bad value on the command line
// and in its BLACKHOLE_* variable gives exactly one stderr line naming it and exit 2, with
// nothing listening and nothing written; every plugin option (the list the plugin itself reports)
// with a bad value fails registration with a message naming the option.
import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import net from 'node:net'
import path from 'node:path'
import Fastify from 'fastify'
import blackhole, { type BlackholeOptions } from '../plugin/index.js'
import { serveSpec } from '../preset/cli/serve.js'
import { cleanEnv, freePort, listDir, rmDir, runCli, tmpDir } from './fixtures-preset.js'

/**
 * A bad value for every serve flag. `null`: the flag takes any value (no bad value exists);
 * booleans are tested through their variable only (a boolean flag takes no value).
 * `'$FILE'` is replaced by a regular file (used where a directory or a readable file is needed).
 */
const BAD: Record<string, string[] | null> = {
  port: ['x', '70000', '-1'],
  host: ['nosuchhost.invalid'],
  out: ['$FILE/sub', 's3://', 's3://b/p'],
  staging: ['$FILE/sub'],
  's3-endpoint': ['notaurl', 'ftp://x'],
  's3-force-path-style': ['maybe'],
  's3-host-id': ['bad/id'],
  record: ['maybe'],
  workers: ['0', 'two', '300'],
  'body-limit': ['lots', '0', '-5'],
  codec: ['zstd'],
  'batch-bytes': ['10', '1x'],
  'flush-ms': ['0', 'soon'],
  'rotate-bytes': ['1', 'big'],
  'rotate-seconds': ['x', '-1'],
  'retain-bytes': ['some'],
  fsync: ['sometimes'],
  'block-checksum': ['2'],
  sample: ['2', '0.5x', '-0.1', ' '],
  'redact-header': ['bad:name', 'a b'],
  'tls-cert': ['/nonexistent/cert.pem'],
  'tls-key': ['/nonexistent/key.pem'],
  http2: ['si'],
  'log-level': ['loud'],
  'stats-interval': ['often'],
  admin: ['nah'],
  'admin-prefix': ['no-slash', '/a/b'],
  'admin-token': ['short'],
  'replay-allow': ['foo', 'a:b:c'],
  'replay-max-jobs': ['0', '1000'],
  'response-status': ['99', 'ok', '600'],
  'response-header': ['x'],
  'response-body': null,
  grace: ['0', 'later'],
  'headers-timeout': ['0', 'slow'],
  'request-timeout': ['fast'],
  'keep-alive-timeout': ['0']
}

/** Flags that need a partner to reach their own check. */
const PARTNER: Record<string, string[]> = {
  // The S3 flags apply only with an s3:// --out (alone they are refused, which is checked too).
  staging: ['--out', 's3://bucket-one/p'],
  's3-endpoint': ['--out', 's3://bucket-one/p'],
  's3-host-id': ['--out', 's3://bucket-one/p'],
  'tls-cert': ['--tls-key', '/nonexistent/key.pem'],
  'tls-key': ['--tls-cert', '/nonexistent/cert.pem']
}

interface Case { label: string, args: string[], env: Record<string, string>, names: RegExp }

async function cases (file: string): Promise<Case[]> {
  const out: Case[] = []
  for (const [name, spec] of Object.entries(serveSpec.flags)) {
    const values = BAD[name]
    if (values === null) continue
    assert.ok(values !== undefined, `serve flag --${name} has no row in the bad-value table of hardening-config.test.ts`)
    const names = new RegExp(`--${name}\\b|${spec.env ?? '-'}|--(tls-cert|tls-key)`)
    for (const raw of values) {
      const v = raw.replace('$FILE', file)
      if (spec.type === 'string') out.push({ label: `--${name} ${JSON.stringify(v)}`, args: [`--${name}`, v, ...(PARTNER[name] ?? [])], env: {}, names })
      if (spec.env !== undefined && v.trim() !== '') {
        const partnerEnv: Record<string, string> = name === 'tls-cert'
          ? { BLACKHOLE_TLS_KEY: '/nonexistent/key.pem' }
          : name === 'tls-key' ? { BLACKHOLE_TLS_CERT: '/nonexistent/cert.pem' } : PARTNER[name]?.[0] === '--out' ? { BLACKHOLE_OUT: PARTNER[name][1] } : {}
        out.push({ label: `${spec.env}=${JSON.stringify(v)}`, args: [], env: { [spec.env]: v, ...partnerEnv }, names })
      }
    }
  }
  return out
}

describe('blackhole serve: every invalid flag and variable', () => {
  test('one stderr line naming the flag or variable, exit 2, nothing listening, nothing written', async t => {
    const dir = await tmpDir('hard-cfg')
    t.after(() => rmDir(dir))
    const file = path.join(dir, 'a-file')
    await writeFile(file, 'not a directory')
    const all = await cases(file)
    t.diagnostic(`${all.length} bad configurations over ${Object.keys(serveSpec.flags).length} flags`)
    const failures: string[] = []
    let next = 0
    const worker = async (): Promise<void> => {
      while (next < all.length) {
        const c = all[next++]
        const out = path.join(dir, `out-${next}`)
        const port = await freePort()
        // Defaults first so the value under test is the one parsed; a flag would beat the
        // variable under test, so the flag it shadows is left out.
        const base: string[] = []
        if (c.env.BLACKHOLE_PORT === undefined && !c.args.includes('--port')) base.push('--port', String(port))
        if (c.env.BLACKHOLE_HOST === undefined && !c.args.includes('--host')) base.push('--host', '127.0.0.1')
        if (c.env.BLACKHOLE_OUT === undefined && !c.args.includes('--out')) base.push('--out', out)
        if (c.env.BLACKHOLE_STATS_INTERVAL === undefined && !c.args.includes('--stats-interval')) base.push('--stats-interval', '0')
        const r = await runCli(['serve', ...base, ...c.args], cleanEnv(c.env), 20_000)
        const lines = r.stderr.split('\n').filter(l => l !== '')
        const problems: string[] = []
        if (r.exit.code !== 2) problems.push(`exit ${JSON.stringify(r.exit)}`)
        if (lines.length !== 1) problems.push(`${lines.length} stderr lines`)
        else if (!c.names.test(lines[0])) problems.push(`line does not name it: ${lines[0]}`)
        if (/listening on/.test(r.stdout)) problems.push('it listened')
        if ((await listDir(out)).length > 0) problems.push('files written')
        if (problems.length > 0) failures.push(`${c.label}: ${problems.join('; ')}\n  stderr: ${r.stderr.slice(0, 400)}`)
      }
    }
    await Promise.all([worker(), worker(), worker()])
    assert.deepEqual(failures, [], failures.join('\n'))
  })
})

describe('the other commands: every invalid flag value', () => {
  test('one stderr line naming the flag, exit 2, before any file is read or written', async t => {
    const dir = await tmpDir('hard-cfg-cmds')
    t.after(() => rmDir(dir))
    const file = path.join(dir, 'not-read.fbf.lz4') // never created: flags are checked first
    const T = 'http://127.0.0.1:1'
    const cases: Array<[string[], string]> = [
      [['dump', '--limit', 'x', file], '--limit'], [['dump', '--max-body', 'lots', file], '--max-body'],
      [['dump', '--max-record', '0', file], '--max-record'], [['dump', '--s3-endpoint', 'notaurl', file], '--s3-endpoint'],
      [['verify', '--max-record', 'lots', file], '--max-record'],
      [['export', '--har', path.join(dir, 'h'), '--jsonl', path.join(dir, 'j'), file], '--jsonl'], [['export', file], '--har'],
      [['export', '--max-record', 'x', '--jsonl', '-', file], '--max-record'],
      [['import', '--har', path.join(dir, 'x.har'), '--out', path.join(dir, 'imp'), '--codec', 'zstd'], '--codec'],
      [['import', '--jsonl', '-', '--out', path.join(dir, 'imp'), '--max-har', '1GiB'], '--max-har'], [['import', '--out', path.join(dir, 'imp')], '--har'],
      [['extract', '--max-record', 'x', '--id', 'i', file], '--max-record'], [['extract', file], '--id'],
      [['stats', '--top', 'x', file], '--top'], [['stats', '--top', '0', file], '--top'],
      [['replay', '--target', 'notaurl', file], '--target'], [['replay', '--target', T, '--concurrency', '0', file], '--concurrency'],
      [['replay', '--target', T, '--rate', 'fast', file], '--rate'], [['replay', '--target', T, '--speed', 'x', file], '--speed'],
      [['replay', '--target', T, '--max-wait', 'x', file], '--max-wait'], [['replay', '--target', T, '--connections', '0', file], '--connections'],
      [['replay', '--target', T, '--loop', 'x', file], '--loop'], [['replay', '--target', T, '--duration', 'x', file], '--duration'],
      [['replay', '--target', T, '--multiply', '0', file], '--multiply'], [['replay', '--target', T, '--path', '(', file], '--path'],
      [['replay', '--target', T, '--header', 'x', file], '--header'], [['replay', '--target', T, '--since', 'yesterday', file], '--since'],
      [['replay', '--target', T, '--until', 'x', file], '--until'], [['replay', '--target', T, '--limit', 'x', file], '--limit'],
      [['replay', '--target', T, '--sample', '2', file], '--sample'], [['replay', '--target', T, '--seed', 'x', file], '--seed'],
      [['replay', '--target', T, '--set-header', 'x', file], '--set-header'], [['replay', '--target', T, '--rewrite-path', 'x', file], '--rewrite-path'],
      [['replay', '--target', T, '--timeout', 'x', file], '--timeout'], [['replay', '--target', T, '--fail-status', 'abc', file], '--fail-status'],
      [['replay', '--target', T, '--max-errors', 'x', file], '--max-errors'], [['replay', '--target', T, '--max-mismatch', 'x', file], '--max-mismatch'],
      [['replay', '--target', T, '--drain', 'x', file], '--drain'], [['replay', '--target', T, '--shard', '3/2', file], '--shard'],
      [['replay', '--target', T, '--bogus', file], '--bogus']
    ]
    const failures: string[] = []
    let next = 0
    await Promise.all([0, 1, 2].map(async () => {
      while (next < cases.length) {
        const [args, flag] = cases[next++]
        const r = await runCli(args, cleanEnv(), 20_000)
        const lines = r.stderr.split('\n').filter(l => l !== '')
        if (r.exit.code !== 2 || lines.length !== 1 || !lines[0].includes(flag)) failures.push(`${args.join(' ')}: exit ${JSON.stringify(r.exit)}, stderr ${JSON.stringify(r.stderr.slice(0, 300))}`)
      }
    }))
    t.diagnostic(`${cases.length} bad flag values over dump, verify, export, import, extract, stats, replay`)
    assert.deepEqual(failures, [], failures.join('\n'))
    assert.deepEqual((await listDir(dir)).sort(), [], 'something was written')
  })
})

describe('blackhole serve: start-up failures', () => {
  test('the port in use: one line naming it, exit 2, also with --workers 2 (no worker left running, no crash loop)', async t => {
    const dir = await tmpDir('hard-cfg-port')
    t.after(() => rmDir(dir))
    const taken = net.createServer()
    await new Promise<void>(resolve => taken.listen(0, '127.0.0.1', resolve))
    t.after(() => taken.close())
    const port = (taken.address() as net.AddressInfo).port
    for (const extra of [[], ['--workers', '2']]) {
      const t0 = Date.now()
      const r = await runCli(['serve', '--host', '127.0.0.1', '--port', String(port), '--out', path.join(dir, 'a'), '--stats-interval', '0', ...extra], cleanEnv(), 20_000)
      const lines = r.stderr.split('\n').filter(l => l !== '')
      t.diagnostic(`${extra.join(' ') || 'one process'}: exit ${JSON.stringify(r.exit)} after ${Date.now() - t0} ms: ${lines.join(' | ')}`)
      assert.equal(r.exit.code, 2, r.stderr)
      assert.equal(lines.length, 1, r.stderr)
      assert.match(lines[0], new RegExp(`--port.*EADDRINUSE|${port}.*EADDRINUSE`))
      assert.doesNotMatch(r.stdout, /listening on/)
    }
  })
})

/** A bad value for every plugin option, with the option name the error must carry. */
const PLUGIN_BAD: Record<string, Array<[unknown, string]>> = {
  dir: [['', 'dir'], [42, 'dir']],
  writer: [[{ not: 'a writer' }, 'writer']],
  codec: [['zstd', 'codec']],
  batchBytes: [[0, 'batchBytes'], [1.5, 'batchBytes'], ['1MiB', 'batchBytes']],
  flushMs: [[-1, 'flushMs'], [Number.NaN, 'flushMs']],
  rotateBytes: [[0, 'rotateBytes']],
  rotateMs: [[-5, 'rotateMs']],
  retainBytes: [[-1, 'retainBytes']],
  retainFiles: [[0.5, 'retainFiles']],
  fsync: [['yes', 'fsync']],
  maxPendingBytes: [[0, 'maxPendingBytes'], [Infinity, 'maxPendingBytes']],
  blockChecksum: [[1, 'blockChecksum']],
  recover: [['no', 'recover']],
  compressThread: [['yes', 'compressThread']],
  sample: [[2, 'sample'], [-0.1, 'sample'], ['1', 'sample']],
  sampleBy: [['cookie', 'sampleBy'], [{ header: 'a b' }, 'sampleBy.header']],
  maxPerSecond: [[-1, 'maxPerSecond'], [0.5, 'maxPerSecond']],
  include: [['GET', 'include'], [{ urls: [3] }, 'include.urls'], [{ methods: 'GET' }, 'include.methods']],
  exclude: [[{ paths: [] }, 'exclude.paths']],
  redact: [['yes', 'redact'], [{ mode: 'x' }, 'redact.mode'], [{ headers: 'authorization' }, 'redact.headers']],
  maxBodyBytes: [[-1, 'maxBodyBytes'], ['1MiB', 'maxBodyBytes']],
  maxCaptureBytes: [[-1, 'maxCaptureBytes'], [1.5, 'maxCaptureBytes']],
  recordResponse: [['yes', 'recordResponse']],
  idHeader: [['bad header', 'idHeader'], [7, 'idHeader']],
  originalUriHeader: [['x:y', 'originalUriHeader'], [true, 'originalUriHeader']],
  logIntervalMs: [[-1, 'logIntervalMs'], ['10s', 'logIntervalMs']],
  upload: [[42, 'upload'], ['http://bucket-one/p', 'upload'], [{ url: 's3://bucket-one/p', hostId: 'a/b' }, 'upload.hostId']]
}

describe('plugin: every invalid option', () => {
  test('registration fails with an error naming the option; no directory is created', async t => {
    const base = await tmpDir('hard-plugin-cfg')
    t.after(() => rmDir(base))
    const dir = path.join(base, 'never-created')
    // The plugin's own list of options, from its message about an unknown one.
    const probe = Fastify({ logger: false })
    const err = await probe.register(blackhole, { dir, bogus: 1 } as BlackholeOptions).ready().then(() => null, (e: Error) => e)
    await probe.close().catch(() => {})
    const known = /known: ([^)]+)\)/.exec(err?.message ?? '')
    assert.ok(known !== null, `no option list in ${err?.message}`)
    const options = known[1].split(', ')
    assert.ok(options.length >= 20, known[1])
    const failures: string[] = []
    let n = 0
    for (const opt of options) {
      const rows = PLUGIN_BAD[opt]
      assert.ok(rows !== undefined, `plugin option ${opt} has no row in the bad-value table`)
      for (const [value, name] of rows) {
        const opts = opt === 'dir' ? { dir: value } : { dir, [opt]: value }
        const app = Fastify({ logger: false })
        const e = await app.register(blackhole, opts as BlackholeOptions).ready().then(() => null, (x: Error) => x)
        await app.close().catch(() => {})
        n++
        if (e === null) failures.push(`${opt}=${String(value)}: registered`)
        else if (!e.message.includes(`"${name}"`)) failures.push(`${opt}=${String(value)}: message does not name "${name}": ${e.message}`)
        else if (e.message.includes('\n')) failures.push(`${opt}=${String(value)}: message of several lines`)
      }
    }
    t.diagnostic(`${n} bad plugin options over ${options.length} options`)
    assert.deepEqual(failures, [], failures.join('\n'))
    assert.equal(existsSync(dir), false, 'a directory was created for a rejected configuration')
  })
})
