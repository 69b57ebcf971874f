// Disk faults under `blackhole serve`, on real file systems mounted by the test (CI runs as
// root): a full disk (a 2 MiB tmpfs), a read-only remount, the archive directory removed while
// running and replaced by a file, and a low file descriptor limit (ulimit -n). Every fault test
// prints records sent, acknowledged (200), recorded (read back from the sealed archive) and lost,
// and checks that the sink keeps answering 200, counts what it drops, logs each kind of problem
// at most once per interval, seals what it has, records again once the fault is gone, never
// crashes, and leaves only sealed files that pass `blackhole verify`.
// The slow disk is an in-process ArchiveWriter whose fs.write is delayed by a test shim
// (fs.write patched, then module.syncBuiltinESMExports so the writer's import sees it): pending
// memory must stay under maxPendingBytes, with the excess dropped and counted, while the app
// keeps answering quickly.
import { test, describe, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import { mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises'
import http from 'node:http'
import { syncBuiltinESMExports } from 'node:module'
import net from 'node:net'
import path from 'node:path'
import type { TestContext } from 'node:test'
import Fastify from 'fastify'
import blackhole from '../plugin/index.js'
import { CLI, BANNER_END, cleanEnv, freePort, isArchive, isTmp, listDir, noise, Proc, readRecords, request, rmDir, runCli, sleep, startLoad, startServe, stopAll, tmpDir } from './fixtures-preset.js'

after(stopAll)

interface Stats {
  sink: { requests: number }
  archive: { recordsWritten: number, recordsDropped: number, dropped: Record<string, number>, writeErrors: number, pendingBytes: number, filesSealed: number }
  capture: { recorded: number }
}

async function stats (port: number): Promise<Stats> {
  const r = await request(port, { path: '/_blackhole/stats' })
  assert.equal(r.status, 200)
  return JSON.parse(r.body.toString()) as Stats
}

/** Mounts a tmpfs at `dir` (options like `size=2m`); false with a visible skip when not allowed outside CI. */
function mountTmpfs (t: TestContext, dir: string, options: string): boolean {
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir], { encoding: 'utf8' })
  if (r.status === 0) return true
  const why = `cannot mount a tmpfs (${(r.stderr || r.error?.message || '').trim()}); needs root`
  if (process.env.CI === 'true' || process.env.CI === '1') throw new Error(`${why}: required in CI`)
  t.skip(why)
  return false
}

function umount (dir: string): void {
  for (let i = 0; i < 20; i++) {
    if (spawnSync('umount', [dir]).status === 0) return
    spawnSync('sleep', ['0.1'])
  }
  spawnSync('umount', ['-l', dir])
}

/** Sealed archives of `dir` all pass `blackhole verify` (exit 0); returns their count. */
async function verifyAll (dir: string): Promise<number> {
  const files = (await listDir(dir)).filter(isArchive)
  if (files.length === 0) return 0
  const r = await runCli(['verify', ...files.map(f => path.join(dir, f))])
  assert.equal(r.exit.code, 0, `verify failed:\n${r.stdout}\n${r.stderr}`)
  return files.length
}

/** pino error lines (level 50) by message. */
function errorLines (stdout: string): Record<string, number> {
  const out: Record<string, number> = {}
  for (const l of stdout.split('\n')) {
    if (!l.startsWith('{')) continue
    try {
      const o = JSON.parse(l) as { level: number, msg: string }
      if (o.level >= 50) {
        const key = o.msg.replace(/\d+ records/, 'N records').replace(/\/\S+/g, 'PATH')
        out[key] = (out[key] ?? 0) + 1
      }
    } catch {}
  }
  return out
}

/** Cleanups run last-in first-out in one after hook: the process stops, then umount, then rm. */
function cleanups (t: TestContext): (fn: () => unknown) => void {
  const fns: Array<() => unknown> = []
  t.after(async () => { for (const f of fns.reverse()) await Promise.resolve().then(f).catch(() => {}) })
  return fn => { fns.push(fn) }
}

function account (t: TestContext, label: string, n: { sent: number, acked: number, recorded: number, dropped?: number }): void {
  t.diagnostic(`${label}: sent ${n.sent}, acknowledged ${n.acked}, recorded ${n.recorded}, lost ${n.acked - n.recorded}${n.dropped === undefined ? '' : ` (counted as dropped: ${n.dropped})`}`)
}

/** `n` POSTs of distinct incompressible 4 KiB bodies, 8 at a time, counting the 200s. */
async function varyingLoad (port: number, n: number, agent: http.Agent, prefix: string): Promise<{ sent: number, ok: number, okPaths: Set<string> }> {
  const res = { sent: 0, ok: 0, okPaths: new Set<string>() }
  let next = 0
  await Promise.all(Array.from({ length: 8 }, async () => {
    while (next < n) {
      const i = next++
      res.sent++
      const r = await request(port, { method: 'POST', path: prefix + i, headers: { 'content-type': 'application/octet-stream' }, body: noise(4096, i + prefix.length * 100000), agent }).catch(() => null)
      if (r?.status === 200) {
        res.ok++
        res.okPaths.add(prefix + i)
      }
    }
  }))
  return res
}

/** A sink writing into a fresh tmpfs of `size` (null: mount refused, the test skipped or failed). */
async function sinkOnTmpfs (t: TestContext, onCleanup: (fn: () => unknown) => void, name: string, size: string) {
  const base = await tmpDir(name)
  onCleanup(() => rmDir(base))
  const mnt = path.join(base, 'mnt')
  await mkdir(mnt)
  if (!mountTmpfs(t, mnt, `size=${size},mode=0700`)) return null
  onCleanup(() => umount(mnt))
  const out = path.join(mnt, 'archive')
  const s = await startServe(['--out', out, '--batch-bytes', '64k', '--flush-ms', '100', '--rotate-bytes', '256k'])
  onCleanup(() => s.proc.stop(5000))
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 })
  onCleanup(() => agent.destroy())
  return { base, mnt, out, s, agent }
}

describe('full disk (2 MiB tmpfs)', () => {
  test('answers 200 throughout, counts drops and write errors, logs once per interval, records again after space is freed; every sealed file verifies', async t => {
    const onCleanup = cleanups(t)
    const sink = await sinkOnTmpfs(t, onCleanup, 'fault-full', '2m')
    if (sink === null) return
    const { mnt, out, s, agent } = sink
    // 1200 incompressible 4 KiB bodies: 4.8 MiB into 2 MiB.
    const t0 = Date.now()
    const fill = await varyingLoad(s.port, 1200, agent, '/fill/')
    await sleep(500)
    const full = await stats(s.port)
    const df = spawnSync('df', ['-k', mnt], { encoding: 'utf8' }).stdout.trim().split('\n').pop()
    t.diagnostic(`while full: ${JSON.stringify(full.archive)}; df: ${df}`)
    assert.equal(fill.ok, 1200, `not every request was answered 200: ${fill.ok}`)
    assert.ok(full.archive.writeErrors > 0, 'no write error counted on a full disk')
    assert.ok(full.archive.dropped.writeError > 0, 'no record counted as dropped on a full disk')
    assert.equal(full.archive.recordsWritten + full.archive.recordsDropped + Math.round(full.archive.pendingBytes / 4200), full.sink.requests - 0, 'every request is written, dropped or pending')
    // Sealed files are whole even while the disk is full.
    const sealedWhileFull = await verifyAll(out)
    // Free the space: delete the sealed files.
    for (const n of (await listDir(out)).filter(isArchive)) await rm(path.join(out, n))
    const after0 = await stats(s.port)
    const again = await varyingLoad(s.port, 100, agent, '/after/')
    assert.equal(again.ok, 100)
    await sleep(500)
    const freed = await stats(s.port)
    assert.ok(freed.archive.recordsWritten >= after0.archive.recordsWritten + 100, `records not written again after space was freed: ${JSON.stringify(freed.archive)}`)
    s.proc.signal('SIGTERM')
    const exit = await s.proc.waitExit(20_000)
    assert.deepEqual(exit, { code: 0, signal: null }, s.proc.output)
    const elapsed = Date.now() - t0
    assert.deepEqual((await listDir(out)).filter(isTmp), [])
    await verifyAll(out)
    const records = await readRecords(out)
    const uris = new Set(records.map(r => r.uri))
    const afterRecorded = [...again.okPaths].filter(p => uris.has(p)).length
    assert.equal(afterRecorded, 100, 'requests after the space was freed are missing')
    const errors = errorLines(s.proc.stdout)
    t.diagnostic(`error log lines over ${elapsed} ms: ${JSON.stringify(errors)}; sealed files verified while full: ${sealedWhileFull}`)
    // The default log interval is 10 s: each kind of problem at most once per started interval.
    for (const [msg, n] of Object.entries(errors)) assert.ok(n <= Math.ceil(elapsed / 10_000), `${n} lines of "${msg}" in ${elapsed} ms`)
    account(t, 'full disk phase', { sent: fill.sent, acked: fill.ok, recorded: full.archive.recordsWritten, dropped: full.archive.recordsDropped })
    account(t, 'after freeing space', { sent: again.sent, acked: again.ok, recorded: afterRecorded })
  })
})

const vanished = { lost: 0, counted: 0 }

describe('full disk at stop', () => {
  test('SIGTERM while the disk is still full: exit 0, sealed files verify; a file that could not be sealed is recovered at the next start', async t => {
    const onCleanup = cleanups(t)
    const sink = await sinkOnTmpfs(t, onCleanup, 'fault-full-stop', '1m')
    if (sink === null) return
    const { out, s, agent } = sink
    const fill = await varyingLoad(s.port, 600, agent, '/full/')
    await sleep(300)
    const full = await stats(s.port)
    s.proc.signal('SIGTERM')
    const exit = await s.proc.waitExit(20_000)
    assert.deepEqual(exit, { code: 0, signal: null }, s.proc.output)
    assert.equal(fill.ok, 600)
    assert.ok(full.archive.writeErrors > 0, 'the disk never filled up')
    const left = (await listDir(out)).filter(isTmp)
    await verifyAll(out)
    const sealedBefore = (await readRecords(out)).length
    // Make room and start again: recovery seals whatever was left unsealed.
    for (const n of (await listDir(out)).filter(isArchive)) await rm(path.join(out, n))
    const again = await startServe(['--out', out])
    again.proc.signal('SIGTERM')
    assert.deepEqual(await again.proc.waitExit(20_000), { code: 0, signal: null }, again.proc.output)
    assert.deepEqual((await listDir(out)).filter(isTmp), [])
    await verifyAll(out)
    const recovered = (await readRecords(out)).length
    t.diagnostic(`written ${full.archive.recordsWritten}, dropped ${full.archive.recordsDropped} while full; .tmp left at stop: ${left.length}; sealed at stop: ${sealedBefore} records; recovered at the next start: ${recovered} records`)
    account(t, 'full at stop', { sent: fill.sent, acked: fill.ok, recorded: sealedBefore + recovered, dropped: full.archive.recordsDropped })
    if (left.length > 0) assert.ok(recovered > 0, 'the unsealed file held records but none were recovered')
  })
})

describe('unwritable or vanished directory', () => {
  test('a read-only file system (tmpfs mounted ro; chmod does not stop root): one line, exit 2 at start, also with --workers 2', async t => {
    const onCleanup = cleanups(t)
    const base = await tmpDir('fault-ro')
    onCleanup(() => rmDir(base))
    const mnt = path.join(base, 'mnt')
    await mkdir(mnt)
    if (!mountTmpfs(t, mnt, 'size=1m,ro')) return
    onCleanup(() => umount(mnt))
    // (A read-only remount while the sink runs is refused by the kernel, EBUSY, since the sink
    // holds its .tmp file open for writing: write failures while running are covered by the full
    // disk and the vanished directory.)
    for (const [out, extra] of [[mnt, []], [path.join(mnt, 'sub'), []], [mnt, ['--workers', '2']]] as const) {
      const r = await runCli(['serve', '--host', '127.0.0.1', '--port', String(await freePort()), '--out', out, '--stats-interval', '0', ...extra], cleanEnv(), 20_000)
      const lines = r.stderr.split('\n').filter(l => l !== '')
      t.diagnostic(`${out} ${extra.join(' ')}: exit ${r.exit.code}: ${lines.join(' | ')}`)
      assert.equal(r.exit.code, 2, r.stderr)
      assert.equal(lines.length, 1, r.stderr)
      assert.match(lines[0], /--out: cannot use archive directory/)
      assert.doesNotMatch(r.stdout, /listening/)
    }
  })

  test('archive directory removed (rm -rf) and then replaced by a file while running: 200s, errors counted, recording resumes; no crash', async t => {
    const base = await tmpDir('fault-vanish')
    t.after(() => rmDir(base))
    const out = path.join(base, 'archive')
    const s = await startServe(['--out', out, '--batch-bytes', '16k', '--flush-ms', '100', '--rotate-seconds', '1'])
    t.after(() => s.proc.stop(5000))
    const phase = async (name: string, n: number): Promise<Awaited<ReturnType<typeof startLoad>['done']>> =>
      startLoad(s.port, { concurrency: 4, maxRequests: n, durationMs: 20_000, body: noise(500, n), agent: false, pathPrefix: `/${name}/` }).done
    const p1 = await phase('before', 100)
    await sleep(1300) // sealed by the 1 s rotation
    await rm(out, { recursive: true, force: true })
    const p2 = await phase('vanished', 100)
    await sleep(1300)
    // Counted now: the next step deletes the directory again, and what it held with it.
    const vanishedRecorded = new Set((await readRecords(out)).map(r => r.uri))
    const recordedP2 = [...p2.okPaths].filter(p => vanishedRecorded.has(p)).length
    // The directory came back (the writer recreates it for its next file): now a file takes its place.
    await rm(out, { recursive: true, force: true })
    await writeFile(out, 'not a directory')
    const p3 = await phase('file', 100)
    await sleep(1300)
    const mid = await stats(s.port)
    await rm(out, { force: true })
    const p4 = await phase('back', 100)
    await sleep(1300)
    s.proc.signal('SIGTERM')
    const exit = await s.proc.waitExit(20_000)
    assert.deepEqual(exit, { code: 0, signal: null }, s.proc.output)
    assert.equal(p1.ok + p2.ok + p3.ok + p4.ok, 400, 'every request answered 200')
    t.diagnostic(`after the file took the directory's place: ${JSON.stringify(mid.archive)}`)
    assert.ok(mid.archive.writeErrors > 0, 'no error counted while the directory was a file')
    assert.ok(mid.archive.dropped.writeError > 0, 'no drop counted while the directory was a file')
    await verifyAll(out)
    const uris = new Set((await readRecords(out)).map(r => r.uri))
    const count = (paths: Set<string>): number => [...paths].filter(p => uris.has(p)).length
    account(t, 'vanished', { sent: p2.sent, acked: p2.ok, recorded: recordedP2 })
    for (const [name, p] of [['file', p3], ['back', p4]] as const) account(t, name, { sent: p.sent, acked: p.ok, recorded: count(p.okPaths) })
    assert.equal(count(p4.okPaths), 100, 'recording did not resume once the directory could be created again')
    assert.equal((await listDir(out)).filter(isTmp).length, 0)
    t.diagnostic(`error log lines: ${JSON.stringify(errorLines(s.proc.stdout))}`)
    vanished.lost = (p2.ok - recordedP2) + (p3.ok - count(p3.okPaths))
    vanished.counted = mid.archive.recordsDropped
  })

  test('records lost with a removed directory are counted as dropped', t => {
    t.diagnostic(`lost ${vanished.lost}, counted as dropped ${vanished.counted}`)
    // The writer notices a removed file within a tick (fstat nlink 0) or at its seal (ENOENT).
    assert.ok(vanished.lost <= vanished.counted, `${vanished.lost} acknowledged records lost, ${vanished.counted} counted as dropped`)
  })

  test('an archive path that is a file at start: one line, exit 2, also with --workers 2 (no crash loop)', async t => {
    const base = await tmpDir('fault-file')
    t.after(() => rmDir(base))
    const file = path.join(base, 'archive')
    await writeFile(file, 'x')
    for (const extra of [[], ['--workers', '2']]) {
      const port = await freePort()
      const t0 = Date.now()
      const r = await runCli(['serve', '--host', '127.0.0.1', '--port', String(port), '--out', file, '--stats-interval', '0', ...extra], cleanEnv(), 20_000)
      const lines = r.stderr.split('\n').filter(l => l !== '')
      t.diagnostic(`${extra.join(' ') || 'one process'}: exit ${r.exit.code} after ${Date.now() - t0} ms: ${lines.join(' | ')}`)
      assert.equal(r.exit.code, 2)
      assert.equal(lines.length, 1)
      assert.match(lines[0], /--out.*archive/)
    }
  })
})

describe('file descriptor exhaustion (ulimit -n 64)', () => {
  test('200 connections against 64 descriptors: the sink survives, what it cannot write is counted, it serves and records again once they go; exit 0', async t => {
    const dir = await tmpDir('fault-fd')
    t.after(() => rmDir(dir))
    const port = await freePort()
    const cmd = `ulimit -n 64 && exec ${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} serve --host 127.0.0.1 --port ${port} --out ${JSON.stringify(dir)} --stats-interval 0 --flush-ms 100 --batch-bytes 4k --rotate-seconds 1`
    const proc = new Proc('bash', ['-c', cmd], { env: cleanEnv() })
    t.after(() => proc.stop(5000))
    await proc.waitForStdout(BANNER_END)
    const limits = fs.readFileSync(`/proc/${proc.pid}/limits`, 'utf8')
    assert.match(limits, /Max open files\s+64\s+64/)
    const p1 = await startLoad(port, { concurrency: 2, maxRequests: 50, durationMs: 20_000, body: noise(300, 1), agent: false, pathPrefix: '/before/' }).done
    // Hold 200 connections, each with a request whose body is not complete yet: the sink runs
    // out of descriptors (connections past the limit are accepted and closed by libuv).
    const held: Array<{ sock: net.Socket, data: string, path: string }> = []
    for (let i = 0; i < 200; i++) {
      const h = { sock: net.connect(port, '127.0.0.1'), data: '', path: `/held/${i}` }
      h.sock.on('error', () => {})
      h.sock.setEncoding('latin1').on('data', (d: string) => { h.data += d })
      h.sock.write(`POST ${h.path} HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\n${'p'.repeat(500)}`)
      held.push(h)
    }
    await sleep(1200)
    // The bodies end while the descriptors are still taken: their records need the next file,
    // opened after a rotation (1 s) with no descriptor free.
    for (const h of held) if (!h.sock.destroyed) h.sock.write('q'.repeat(500))
    await sleep(2500)
    const alive = proc.exit === null
    const heldOk = held.filter(h => /^HTTP\/1\.1 200/.test(h.data)).map(h => h.path)
    for (const h of held) h.sock.destroy()
    await sleep(1000)
    const p2 = await startLoad(port, { concurrency: 2, maxRequests: 50, durationMs: 20_000, body: noise(300, 2), agent: false, pathPrefix: '/after/' }).done
    const st = await stats(port)
    await sleep(1200)
    proc.signal('SIGTERM')
    const exit = await proc.waitExit(20_000)
    t.diagnostic(`stats after: ${JSON.stringify(st.archive)}; error lines: ${JSON.stringify(errorLines(proc.stdout))}`)
    assert.ok(alive, `the sink died with descriptors exhausted\n${proc.output}`)
    assert.deepEqual(exit, { code: 0, signal: null }, proc.output)
    assert.equal(p1.ok, 50)
    assert.equal(p2.ok, 50, 'not serving again after the connections went away')
    await verifyAll(dir)
    const uris = new Set((await readRecords(dir)).map(r => r.uri))
    const count = (paths: Set<string>): number => [...paths].filter(p => uris.has(p)).length
    account(t, 'before', { sent: p1.sent, acked: p1.ok, recorded: count(p1.okPaths) })
    const heldRecorded = heldOk.filter(p => uris.has(p)).length
    account(t, 'held connections (descriptors exhausted)', { sent: 200, acked: heldOk.length, recorded: heldRecorded, dropped: st.archive.recordsDropped })
    account(t, 'after', { sent: p2.sent, acked: p2.ok, recorded: count(p2.okPaths) })
    assert.ok(heldOk.length > 0, 'no held request was answered')
    assert.equal(count(p1.okPaths), 50)
    assert.equal(count(p2.okPaths), 50)
    assert.ok(heldRecorded + st.archive.recordsDropped >= heldOk.length, `${heldOk.length - heldRecorded} answered requests neither recorded nor counted as dropped`)
    assert.equal((await listDir(dir)).filter(isTmp).length, 0)
  })
})

describe('slow disk (test shim: fs.write delayed 150 ms per call)', () => {
  test('pending memory stays under maxPendingBytes, the excess is dropped and counted, throughput and latency hold; everything kept is readable', async t => {
    const dir = await tmpDir('fault-slow')
    t.after(() => rmDir(dir))
    const realWrite = fs.write
    let delayed = 0
    const shim = function (this: unknown, ...args: unknown[]): void {
      delayed++
      setTimeout(() => (realWrite as (...a: unknown[]) => void).apply(this, args), 150)
    }
    const restore = (): void => {
      fs.write = realWrite
      syncBuiltinESMExports()
    }
    t.after(restore)
    const maxPendingBytes = 512 << 10
    const app = Fastify({ logger: false })
    t.after(() => app.close())
    await app.register(blackhole, { dir, batchBytes: 32 << 10, flushMs: 20, maxPendingBytes, redact: false, recordResponse: false })
    app.post('/*', async () => 'ok')
    await app.listen({ port: 0, host: '127.0.0.1' })
    const port = (app.server.address() as net.AddressInfo).port
    const agent = new http.Agent({ keepAlive: true, maxSockets: 8 })
    t.after(() => agent.destroy())
    const body = noise(2048, 9)
    let sent = 0
    let acked = 0
    /** 8 keep-alive loops for `ms`; returns the latencies of this phase. */
    const phase = async (name: string, ms: number): Promise<number[]> => {
      const latencies: number[] = []
      const deadline = Date.now() + ms
      await Promise.all(Array.from({ length: 8 }, async () => {
        while (Date.now() < deadline) {
          const t0 = process.hrtime.bigint()
          sent++
          const r = await request(port, { method: 'POST', path: `/${name}/${sent}`, headers: { 'content-type': 'text/plain' }, body, agent })
          latencies.push(Number(process.hrtime.bigint() - t0) / 1e6)
          if (r.status === 200) acked++
        }
      }))
      return latencies.sort((x, y) => x - y)
    }
    // Baseline: the same load on the real disk.
    const fast = await phase('fast', 1000)
    await app.archive.flush()
    fs.write = shim as unknown as typeof fs.write
    syncBuiltinESMExports()
    let maxPending = 0
    const sampler = setInterval(() => { maxPending = Math.max(maxPending, app.archive.stats().archive.pendingBytes) }, 5)
    const latencies = await phase('slow', 2000)
    clearInterval(sampler)
    const during = app.archive.stats().archive
    restore()
    await app.close()
    const p99 = latencies[Math.floor(latencies.length * 0.99)]
    const fastRate = fast.length / 1
    const slowRate = latencies.length / 2
    const records = await readRecords(dir)
    const files = (await readdir(dir)).filter(isArchive)
    for (const f of files) assert.ok((await stat(path.join(dir, f))).size > 0)
    t.diagnostic(`${delayed} delayed writes; max pending ${maxPending} of ${maxPendingBytes} bytes; p99 latency ${p99.toFixed(1)} ms; ${slowRate.toFixed(0)} req/s (real disk: ${fastRate.toFixed(0)} req/s, p99 ${fast[Math.floor(fast.length * 0.99)].toFixed(1)} ms)`)
    account(t, 'slow disk', { sent, acked, recorded: records.length, dropped: during.recordsDropped })
    assert.equal(acked, sent, 'every request answered 200')
    assert.ok(delayed > 0, 'the shim delayed nothing')
    assert.ok(maxPending <= maxPendingBytes, `pending ${maxPending} > ${maxPendingBytes}`)
    assert.ok(during.dropped.backpressure > 0, 'nothing dropped: the disk was not slow enough to test the bound')
    assert.equal(records.length + during.recordsDropped, acked, 'every answered request is either recorded or counted as dropped')
    assert.ok(p99 < 100, `p99 latency ${p99} ms with a slow disk`)
    assert.ok(slowRate >= fastRate * 0.5, `throughput fell from ${fastRate} to ${slowRate} req/s with a slow disk`)
  })
})
