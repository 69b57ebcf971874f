// dump, verify, stats, export and replay straight from s3://bucket/prefix (objects streamed from
// a real s3rver on loopback), and replay --shard i/n covering a recording exactly once.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { mkdir, readdir, copyFile } from 'node:fs/promises'
import path from 'node:path'
import { after, before, test } from 'node:test'
import { ArchiveWriter } from '../lib/archive/writer.js'
import { parseShard, shardFiles } from '../lib/replay/shard.js'
import { cleanEnv, readRecords, rmDir, runCli, startServe, stopAll, tmpDir } from './fixtures-preset.js'
import { S3Store } from './fixtures-s3.js'

after(stopAll)

const HOSTS = ['host-a', 'host-b']
const PER_FILE = 7
const FILES_PER_HOST = 4
let store: S3Store | null = null
let local = '' // every file of the recording, in one local directory
const ids: string[] = []

before(async () => {
  local = await tmpDir('s3-read')
})

after(async () => {
  await store?.destroy()
  await rmDir(local)
})

/** Starts the store and uploads a recording of two hosts (4 files each) once for all tests. */
async function recording (t: Parameters<typeof S3Store.start>[0]): Promise<S3Store | null> {
  if (store !== null) return store
  store = await S3Store.start(t)
  if (store === null) return null
  for (const host of HOSTS) {
    const dir = path.join(local, '..', path.basename(local) + '-' + host)
    await mkdir(dir, { recursive: true })
    const w = new ArchiveWriter({ dir, flushMs: 0, recover: false })
    await w.ready()
    for (let f = 0; f < FILES_PER_HOST; f++) {
      for (let i = 0; i < PER_FILE; i++) {
        const id = `${host}-${f}-${i}`
        ids.push(id)
        w.record({ id, method: 'POST', uri: `/r/${id}?q=${i}`, headers: `Host: rec.example\r\nX-Request-Id: ${id}\r\nContent-Type: text/plain\r\n\r\n`, body: Buffer.from(`body of ${id}`), timeNs: BigInt(Date.now()) * 1_000_000n + BigInt(ids.length) })
      }
      await w.rotate()
    }
    await w.close()
    for (const name of (await readdir(dir)).sort()) {
      await store.put(`rec/${host}/${name}`, readFileSync(path.join(dir, name)))
      await copyFile(path.join(dir, name), path.join(local, name))
    }
    await rmDir(dir)
  }
  return store
}

const s3Flags = (s: S3Store): string[] => ['--s3-endpoint', s.endpoint]

function jsonLines (stdout: string): Array<Record<string, unknown>> {
  return stdout.split('\n').filter(Boolean).map(l => {
    const o = JSON.parse(l) as Record<string, unknown>
    delete o.file
    return o
  })
}

test('dump, export and stats read s3:// prefixes as they read the same files on disk', { timeout: 60_000 }, async (t) => {
  const s = await recording(t)
  if (s === null) return
  const fromS3 = await runCli(['dump', '--json', ...s3Flags(s), s.url('rec')], cleanEnv())
  assert.equal(fromS3.exit.code, 0, fromS3.stderr)
  const fromDisk = await runCli(['dump', '--json', local], cleanEnv())
  const records = jsonLines(fromS3.stdout)
  assert.equal(records.length, HOSTS.length * FILES_PER_HOST * PER_FILE)
  assert.deepEqual(records, jsonLines(fromDisk.stdout))
  assert.match(fromS3.stdout, /"file":"s3:\/\/recordings\/rec\/host-a\/requests_/)

  const exported = await runCli(['export', '--jsonl', '-', ...s3Flags(s), s.url('rec/')], cleanEnv())
  assert.equal(exported.exit.code, 0, exported.stderr)
  assert.deepEqual(jsonLines(exported.stdout), records)

  const stats = await runCli(['stats', '--json', ...s3Flags(s), s.url('rec')], cleanEnv())
  assert.equal(stats.exit.code, 0, stats.stderr)
  assert.equal((JSON.parse(stats.stdout) as { records: number }).records, records.length)

  // One host's prefix, and one object by its key.
  const one = await runCli(['dump', '--json', ...s3Flags(s), s.url('rec/host-b')], cleanEnv())
  assert.equal(jsonLines(one.stdout).length, FILES_PER_HOST * PER_FILE)
  const key = (await s.keys('rec/host-a/'))[0]
  const single = await runCli(['dump', '--json', ...s3Flags(s), s.url(key)], cleanEnv())
  assert.equal(jsonLines(single.stdout).length, PER_FILE)
})

test('verify streams objects and names a damaged one by its s3:// URL and offset', { timeout: 60_000 }, async (t) => {
  const s = await recording(t)
  if (s === null) return
  const ok = await runCli(['verify', ...s3Flags(s), s.url('rec')], cleanEnv())
  assert.equal(ok.exit.code, 0, ok.stdout + ok.stderr)
  assert.equal((ok.stdout.match(/^OK {3}s3:\/\/recordings\/rec\/host-[ab]\/requests_/gm) ?? []).length, HOSTS.length * FILES_PER_HOST)

  const key = (await s.keys('rec/host-a/'))[1]
  const bytes = await s.get(key)
  bytes[Math.floor(bytes.length / 2)] ^= 0xff
  await s.put('bad/' + path.basename(key), bytes)
  const bad = await runCli(['verify', ...s3Flags(s), s.url('bad')], cleanEnv())
  assert.equal(bad.exit.code, 1)
  const url = s.url('bad/' + path.basename(key))
  assert.match(bad.stdout, new RegExp(`^FAIL ${url.replace(/[.]/g, '\\.')} `, 'm'))
  assert.match(bad.stdout, new RegExp(`${url.replace(/[.]/g, '\\.')}: offset \\d+`))

  const dump = await runCli(['dump', ...s3Flags(s), s.url('bad')], cleanEnv())
  assert.equal(dump.exit.code, 1)
  assert.match(dump.stderr, new RegExp(`${url.replace(/[.]/g, '\\.')}: offset \\d+`))

  const missing = await runCli(['dump', ...s3Flags(s), s.url('rec/host-a/requests_none.fbf.lz4')], cleanEnv())
  assert.equal(missing.exit.code, 1)
  assert.match(missing.stderr, /s3:\/\/recordings\/rec\/host-a\/requests_none\.fbf\.lz4: /)
})

test('replay from s3:// into a recording sink delivers every record', { timeout: 60_000 }, async (t) => {
  const s = await recording(t)
  if (s === null) return
  const out = await tmpDir('s3-replay-sink')
  t.after(() => rmDir(out))
  const sink = await startServe(['--out', out, '--flush-ms', '100'], { env: cleanEnv() })
  const r = await runCli(['replay', '--target', sink.base, '--json', ...s3Flags(s), s.url('rec')], cleanEnv())
  assert.equal(r.exit.code, 0, r.stderr)
  assert.equal((JSON.parse(r.stdout) as { answered: number }).answered, ids.length)
  assert.equal((await sink.proc.stop()).code, 0)
  const got = await readRecords(out)
  assert.deepEqual(got.map(g => g.id).sort(), [...ids].sort())
  for (const g of got) {
    assert.equal(Buffer.from(g.body).toString(), `body of ${g.id}`)
    assert.equal(g.uri, `/r/${g.id}?q=${g.id.split('-').pop() ?? ''}`)
  }
})

test('replay --shard i/n: three shards together replay every record exactly once (s3 and local)', { timeout: 90_000 }, async (t) => {
  const s = await recording(t)
  if (s === null) return
  const out = await tmpDir('s3-shard-sink')
  t.after(() => rmDir(out))
  const sink = await startServe(['--out', out, '--flush-ms', '100'], { env: cleanEnv() })
  const answered: number[] = []
  for (let i = 1; i <= 3; i++) {
    const r = await runCli(['replay', '--target', sink.base, '--json', '--shard', `${i}/3`, ...s3Flags(s), s.url('rec')], cleanEnv())
    assert.equal(r.exit.code, 0, r.stderr)
    answered.push((JSON.parse(r.stdout) as { answered: number }).answered)
  }
  assert.equal((await sink.proc.stop()).code, 0)
  const got = (await readRecords(out)).map(g => g.id).sort()
  assert.deepEqual(got, [...ids].sort(), 'every record once, none twice')
  assert.equal(answered.reduce((a, b) => a + b, 0), ids.length)
  assert.ok(answered.filter(n => n > 0).length >= 2, `the work is shared: ${answered.join(', ')}`)

  // A local copy of the recording shards the same way (by file name), so copies on n machines agree.
  const seen: string[] = []
  for (let i = 1; i <= 3; i++) {
    const r = await runCli(['replay', '--dry-run', '--shard', `${i}/3`, local], cleanEnv())
    assert.equal(r.exit.code, 0, r.stderr)
    const shardIds = [...r.stdout.matchAll(/^ {2}X-Request-Id: (.+)$/gim)].map(m => m[1])
    assert.equal(shardIds.length, answered[i - 1], `shard ${i}/3 takes the same files locally as from s3`)
    seen.push(...shardIds)
  }
  assert.deepEqual(seen.sort(), [...ids].sort())
})

test('--shard is validated: i/n with 1 <= i <= n, exit 2 naming the flag', { timeout: 30_000 }, async () => {
  for (const bad of ['0/3', '4/3', '1/0', 'a/b', '2', '-1/2']) {
    const r = await runCli(['replay', '--dry-run', `--shard=${bad}`, '.'], cleanEnv())
    assert.equal(r.exit.code, 2, bad)
    assert.match(r.stderr, /--shard must look like i\/n/)
  }
  assert.deepEqual(parseShard('2/5'), { index: 2, count: 5 })
  const files = Array.from({ length: 50 }, (_, i) => `/x/requests_${i}.fbf.lz4`)
  const parts = [1, 2, 3].map(index => shardFiles(files, { index, count: 3 }))
  assert.deepEqual(parts.flat().sort(), [...files].sort())
  for (const p of parts) assert.ok(p.length > 5, 'a hash spreads 50 files over 3 shards')
  assert.deepEqual(shardFiles(files.map(f => f.replace('/x/', 's3://b/h/')), { index: 2, count: 3 }).map(f => path.basename(f)), parts[1].map(f => path.basename(f)))
})
