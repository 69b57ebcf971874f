// The `blackhole` CLI (dump, verify), run as a child process on archives written here.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { copyFile, mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { ArchiveWriter } from '../lib/archive/writer.js'
import type { CodecName } from '../lib/format/codecs.js'
import type { RequestRecord } from '../lib/format/record.js'
import { CLI, listDir, recordOf, rmDir, runCli, tmpDir, type RunResult } from './fixtures-writer.js'

const BINARY = Buffer.from(Array.from({ length: 100 }, (_, i) => (i * 37 + 255) & 0xFF))

const RECORDS: RequestRecord[] = [
  {
    id: 'req-1',
    method: 'POST',
    uri: '/submit?x=1',
    headers: 'Host: example.test\r\nContent-Type: text/plain\r\nX-Latin: caf\u00e9\r\n\r\n',
    body: Buffer.from('hello world\nsecond line'),
    timeNs: 1_700_000_000_123_456_789n,
    remoteAddr: '10.0.0.5',
    remotePort: 40000,
    httpVersion: '1.1'
  },
  { id: 'req-2', method: 'PUT', uri: '/bin', headers: 'Host: example.test\r\n\r\n', body: BINARY },
  { id: 'req-3', method: 'POST', uri: '/trunc', headers: 'Host: t\r\n\r\n', body: Buffer.from('abc'), bodyLength: 10, bodyTruncated: true },
  { id: 'req-4', method: 'GET', uri: '/empty', headers: 'Host: e\r\n\r\n' }
]

let base: string
let dir: string // two archives: A (lz4: req-1, req-2) and B (raw: req-3, req-4), plus files to ignore
let fileA: string
let fileB: string
let bigDir: string

async function writeArchive (into: string, codec: CodecName, records: RequestRecord[], name: string): Promise<string> {
  const work = path.join(base, 'work-' + name)
  const w = new ArchiveWriter({ dir: work, codec, blockChecksum: true })
  for (const r of records) assert.equal(w.record(r), true)
  await w.close()
  const [written] = await listDir(work)
  const target = path.join(into, name)
  await rename(path.join(work, written), target)
  return target
}

const lines = (s: string): string[] => s.split('\n').filter(l => l !== '')
const noStack = (stderr: string): void => assert.doesNotMatch(stderr, /^\s+at /m, `stack trace on stderr:\n${stderr}`)

function jsonLines (r: RunResult): Array<Record<string, unknown>> {
  assert.equal(r.code, 0, r.stderr)
  return lines(r.stdout).map(l => JSON.parse(l) as Record<string, unknown>)
}

before(async () => {
  base = await tmpDir('cli')
  dir = path.join(base, 'archives')
  await mkdir(dir)
  // B is written first but sorts second by name.
  fileB = await writeArchive(dir, 'none', RECORDS.slice(2), 'requests_20200101000001_1-00000000.fbf')
  fileA = await writeArchive(dir, 'lz4js', RECORDS.slice(0, 2), 'requests_20200101000000_1-ffffffff.fbf.lz4')
  await writeFile(path.join(dir, 'notes.txt'), 'not an archive')
  await writeFile(path.join(dir, 'requests_20200101000002_1-00000000.fbf.lz4.tmp'), 'unsealed')
  bigDir = path.join(base, 'big')
  const w = new ArchiveWriter({ dir: bigDir, codec: 'lz4js' })
  for (let i = 0; i < 3000; i++) w.record(recordOf(i, 1000))
  await w.close()
})

after(() => rmDir(base))

describe('blackhole help and usage errors', () => {
  test('--help lists the commands, exit 0', async () => {
    for (const r of await Promise.all(['--help', '-h', 'help'].map(flag => runCli([flag])))) {
      assert.equal(r.code, 0)
      assert.match(r.stdout, /^Usage: blackhole COMMAND/)
      assert.match(r.stdout, /^ {2}dump +\S/m)
      assert.match(r.stdout, /^ {2}verify +\S/m)
      assert.equal(r.stderr, '')
    }
  })

  test('dump --help lists every flag with its default', async () => {
    const r = await runCli(['dump', '--help'])
    assert.equal(r.code, 0)
    assert.equal(r.stderr, '')
    assert.match(r.stdout, /^Usage: blackhole dump \[flags\] PATH\.\.\./)
    assert.match(r.stdout, /^ {6}--json {2,}one JSON object per line.*\(default: false\)$/m)
    assert.match(r.stdout, /^ {6}--limit N {2,}.*\(default: 0\)$/m)
    assert.match(r.stdout, /^ {6}--id ID {2,}only records with this id$/m)
    assert.match(r.stdout, /^ {6}--max-body BYTES {2,}.*\(default: 4096\)$/m)
    assert.match(r.stdout, /^ {6}--max-record BYTES {2,}.*\(default: 256MiB\)$/m)
    assert.match(r.stdout, /^ {6}--s3-endpoint URL {2,}for s3:\/\/ paths: .*\[env BLACKHOLE_S3_ENDPOINT\]$/m)
    assert.match(r.stdout, /^ {6}--s3-force-path-style {2,}for s3:\/\/ paths: .*\[env BLACKHOLE_S3_FORCE_PATH_STYLE\]$/m)
    assert.match(r.stdout, /^ {2}-h, --help {2,}show this help$/m)
    assert.equal(lines(r.stdout.slice(r.stdout.indexOf('Flags:'))).length, 9)
  })

  test('verify --help lists every flag with its default', async () => {
    const r = await runCli(['verify', '-h'])
    assert.equal(r.code, 0)
    assert.match(r.stdout, /^Usage: blackhole verify \[flags\] PATH\.\.\./)
    assert.match(r.stdout, /^ {6}--json {2,}one JSON object per file \(default: false\)$/m)
    assert.match(r.stdout, /^ {6}--max-record BYTES {2,}.*\(default: 256MiB\)$/m)
    assert.match(r.stdout, /^ {6}--s3-endpoint URL {2,}for s3:\/\/ paths: /m)
    assert.match(r.stdout, /^ {2}-h, --help {2,}show this help$/m)
    assert.equal(lines(r.stdout.slice(r.stdout.indexOf('Flags:'))).length, 6)
  })

  test('no command: usage, exit 2', async () => {
    const r = await runCli([])
    assert.equal(r.code, 2)
    assert.match(r.stdout + r.stderr, /Usage: blackhole COMMAND/)
    assert.match(r.stdout + r.stderr, /dump[\s\S]*verify/)
  })

  test('unknown command: one line, exit 2', async () => {
    const r = await runCli(['frobnicate', dir])
    assert.equal(r.code, 2)
    assert.equal(r.stdout, '')
    const l = lines(r.stderr)
    assert.equal(l.length, 1, r.stderr)
    assert.match(l[0], /^blackhole: unknown command 'frobnicate' \(try: [a-z, ]*\bdump\b[a-z, ]*\bverify\b[a-z, ]*\)$/)
  })

  test('unknown flag: exactly one stderr line naming it, exit 2', async () => {
    const all = [['dump', '--bogus', dir], ['verify', dir, '--frob=1'], ['dump', '-q', dir]]
    const results = await Promise.all(all.map(args => runCli(args)))
    for (const [k, args] of all.entries()) {
      const r = results[k]
      const flag = args.find(a => a.startsWith('-')) as string
      assert.equal(r.code, 2, args.join(' '))
      assert.equal(r.stdout, '')
      const l = lines(r.stderr)
      assert.equal(l.length, 1, r.stderr)
      assert.ok(l[0].startsWith(`blackhole ${args[0]}: `), l[0])
      assert.ok(l[0].includes(flag.split('=')[0]), l[0])
    }
  })

  test('bad flag values: exit 2 naming the flag', async () => {
    const cases: Array<[string[], string]> = [
      [['dump', '--limit', 'x', dir], "--limit must be an integer from 0 to any, got 'x'"],
      [['dump', '--max-record', '0', dir], "--max-record must be a byte size such as 1048576, 64k or 1MiB (at least 1), got '0'"],
      [['dump', '--max-body', 'lots', dir], '--max-body'],
      [['verify', '--max-record', '-5', dir], '--max-record'],
      [['dump', '--limit'], '--limit']
    ]
    const results = await Promise.all(cases.map(([args]) => runCli(args)))
    for (const [k, [args, want]] of cases.entries()) {
      const r = results[k]
      assert.equal(r.code, 2, args.join(' '))
      assert.equal(r.stdout, '')
      const l = lines(r.stderr)
      assert.equal(l.length, 1, r.stderr)
      assert.ok(l[0].includes(want), `${l[0]} does not include ${want}`)
    }
  })

  test('no path: exit 2, missing argument', async () => {
    const results = await Promise.all(['dump', 'verify'].map(cmd => runCli([cmd])))
    for (const [k, cmd] of ['dump', 'verify'].entries()) {
      const r = results[k]
      assert.equal(r.code, 2)
      assert.deepEqual(lines(r.stderr), [`blackhole ${cmd}: missing argument: ${cmd} [flags] PATH...`])
    }
  })
})

describe('blackhole dump', () => {
  test('text: request line, headers, text body, binary hex preview, truncated note', async () => {
    const r = await runCli(['dump', dir])
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stderr, '')
    const blocks = r.stdout.split(/\n(?=#\d+ {2})/)
    assert.equal(blocks.length, 4)
    assert.equal(blocks[0], [
      '#1  id=req-1  2023-11-14T22:13:20.123456789Z  from 10.0.0.5:40000  HTTP/1.1',
      'POST /submit?x=1',
      'Host: example.test',
      'Content-Type: text/plain',
      'X-Latin: caf\u00e9',
      '',
      'hello world',
      'second line',
      ''
    ].join('\n'))
    const hex = [...BINARY.subarray(0, 64)].map(b => b.toString(16).padStart(2, '0')).join(' ')
    assert.equal(blocks[1], `#2  id=req-2\nPUT /bin\nHost: example.test\n\n[binary body, 100 bytes] ${hex} ...\n`)
    assert.equal(blocks[2], '#3  id=req-3\nPOST /trunc\nHost: t\n\nabc\n[(truncated: 3 of 10 bytes stored)]\n')
    assert.equal(blocks[3], '#4  id=req-4\nGET /empty\nHost: e\n\n[no body]\n\n')
  })

  test('text: --max-body cuts a long text body', async () => {
    const r = await runCli(['dump', '--max-body', '5', '--limit', '1', fileA])
    assert.equal(r.code, 0, r.stderr)
    assert.ok(r.stdout.includes('\n\nhello\n[... 23 bytes in all]\n'), r.stdout)
  })

  test('--json: one object per line, body base64 of the original bytes, headers as stored', async () => {
    const objs = jsonLines(await runCli(['dump', '--json', dir]))
    assert.equal(objs.length, 4)
    objs.forEach((o, i) => {
      const want = RECORDS[i]
      assert.equal(o.id, want.id)
      assert.equal(o.method, want.method)
      assert.equal(o.uri, want.uri)
      assert.equal(o.headers, want.headers)
      assert.deepEqual(Buffer.from(o.body as string, 'base64'), Buffer.from(want.body ?? new Uint8Array(0)))
      assert.equal(o.file, i < 2 ? fileA : fileB)
    })
    assert.equal(objs[0].timeNs, '1700000000123456789')
    assert.equal(objs[0].time, '2023-11-14T22:13:20.123456789Z')
    assert.equal(objs[0].remoteAddr, '10.0.0.5')
    assert.equal(objs[0].remotePort, 40000)
    assert.equal(objs[0].httpVersion, '1.1')
    assert.equal(objs[1].bodyLength, 100)
    assert.equal(objs[1].bodyTruncated, false)
    assert.equal(objs[2].bodyLength, 10)
    assert.equal(objs[2].bodyTruncated, true)
    assert.equal(objs[3].body, '')
    assert.equal(objs[3].timeNs, '0')
    assert.equal(objs[3].time, null)
  })

  test('--limit and --id', async () => {
    const ids = async (args: string[]): Promise<unknown[]> => jsonLines(await runCli(['dump', '--json', ...args])).map(o => o.id)
    const cases: Array<[string[], string[]]> = [
      [['--limit', '2', dir], ['req-1', 'req-2']],
      [['--limit', '3', dir], ['req-1', 'req-2', 'req-3']],
      [['--limit', '0', dir], ['req-1', 'req-2', 'req-3', 'req-4']],
      [['--id', 'req-3', dir], ['req-3']],
      [['--id', 'req-4', '--limit', '1', dir], ['req-4']],
      [['--id', 'nope', dir], []]
    ]
    const got = await Promise.all(cases.map(([args]) => ids(args)))
    for (const [k, [args, want]] of cases.entries()) assert.deepEqual(got[k], want, args.join(' '))
  })

  test('a directory is read in name order; files are read in the order given', async () => {
    const ids = async (args: string[]): Promise<unknown[]> => jsonLines(await runCli(['dump', '--json', ...args])).map(o => o.id)
    const [inDir, given, one] = await Promise.all([ids([dir]), ids([fileB, fileA]), ids([fileB])])
    assert.deepEqual(inDir, ['req-1', 'req-2', 'req-3', 'req-4'])
    assert.deepEqual(given, ['req-3', 'req-4', 'req-1', 'req-2'])
    assert.deepEqual(one, ['req-3', 'req-4'])
  })

  test('a missing path: non-zero exit, a message naming it, no stack trace', async () => {
    const missing = path.join(base, 'no-such-dir')
    const results = await Promise.all(['dump', 'verify'].map(cmd => runCli([cmd, missing])))
    for (const r of results) {
      assert.notEqual(r.code, 0)
      assert.equal(r.stdout, '')
      const l = lines(r.stderr)
      assert.equal(l.length, 1, r.stderr)
      assert.ok(l[0].includes(missing), l[0])
      assert.match(l[0], /no such file or directory/)
      noStack(r.stderr)
    }
  })

  test('a directory named *.fbf inside a directory is not taken for an archive', async () => {
    const odd = path.join(base, 'odd')
    await mkdir(path.join(odd, 'sub.fbf'), { recursive: true })
    const r = await runCli(['dump', odd])
    assert.equal(r.code, 0)
    assert.equal(r.stdout, '')
    noStack(r.stderr)
    const v = await runCli(['verify', odd])
    assert.equal(v.code, 1, 'verify of a directory without archives fails')
    assert.match(v.stdout, /0 file\(s\)/)
  })

  test('stdout closed early (dump | head -1): exit 0, no EPIPE', async () => {
    for (const json of [false, true]) {
      const child = spawn(process.execPath, [CLI, 'dump', ...(json ? ['--json'] : []), bigDir], { stdio: ['ignore', 'pipe', 'pipe'] })
      let stderr = ''
      let got = 0
      child.stderr.setEncoding('utf8')
      child.stderr.on('data', (c: string) => { stderr += c })
      child.stdout.once('data', (c: Buffer) => {
        got = c.length
        child.stdout.destroy()
      })
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000)
      const [code, signal] = await new Promise<[number | null, string | null]>(resolve => child.on('close', (c, s) => resolve([c, s])))
      clearTimeout(timer)
      assert.ok(got > 0)
      assert.equal(signal, null)
      assert.equal(code, 0, stderr)
      assert.doesNotMatch(stderr, /EPIPE/)
      assert.equal(stderr, '')
    }
  })
})

describe('blackhole verify', () => {
  test('whole archives: exit 0, one OK line per file with its record count', async () => {
    const r = await runCli(['verify', dir])
    assert.equal(r.code, 0, r.stdout + r.stderr)
    const l = lines(r.stdout)
    assert.equal(l.length, 3)
    assert.match(l[0], new RegExp(`^OK +${esc(fileA)} +records=2 +bytes=\\d+ .*format=lz4 +frames=1 +blocks=1 +time=2023-11-14T22:13:20\\.123456789Z\\.\\.2023-11-14T22:13:20\\.123456789Z$`))
    assert.match(l[1], new RegExp(`^OK +${esc(fileB)} +records=2 +bytes=\\d+ .*format=raw `))
    assert.equal(l[2], '2 file(s), 0 with problems')
  })

  test('--json: one object per file', async () => {
    const objs = jsonLines(await runCli(['verify', '--json', fileA, fileB]))
    assert.deepEqual(objs.map(o => [o.file, o.ok, o.records, o.format]), [[fileA, true, 2, 'lz4'], [fileB, true, 2, 'raw']])
  })

  test('a flipped byte inside a block: exit 1, names the file and the offset', async () => {
    const bad = path.join(base, 'corrupt.fbf.lz4')
    const bytes = await readFile(fileA)
    bytes[7 + 4 + 3] ^= 0x55 // inside the first block, which starts after the 7-byte header
    await writeFile(bad, bytes)
    const r = await runCli(['verify', bad])
    assert.equal(r.code, 1)
    const l = lines(r.stdout)
    assert.match(l[0], new RegExp(`^FAIL ${esc(bad)} `))
    assert.equal(l[1].trim(), `${bad}: offset 7: block checksum mismatch`)
    assert.equal(l[2], '1 file(s), 1 with problems')
    noStack(r.stderr)

    // A good file next to it still gets its OK line.
    const both = await runCli(['verify', fileA, bad])
    assert.equal(both.code, 1)
    assert.match(both.stdout, new RegExp(`^OK +${esc(fileA)} `, 'm'))
    assert.match(both.stdout, /^2 file\(s\), 1 with problems$/m)
  })

  test('a truncated file: exit 1 and says truncated', async () => {
    const cuts: Array<[string, Buffer]> = []
    const a = await readFile(fileA)
    const b = await readFile(fileB)
    cuts.push([path.join(base, 'cut-end.fbf.lz4'), a.subarray(0, a.length - 3)])
    cuts.push([path.join(base, 'cut-block.fbf.lz4'), a.subarray(0, 20)])
    cuts.push([path.join(base, 'cut-record.fbf'), b.subarray(0, b.length - 5)])
    for (const [file, bytes] of cuts) await writeFile(file, bytes)
    const results = await Promise.all(cuts.map(([file]) => runCli(['verify', file])))
    for (const [k, [file]] of cuts.entries()) {
      const r = results[k]
      assert.equal(r.code, 1, file)
      assert.match(r.stdout, new RegExp(`^FAIL ${esc(file)} `))
      assert.match(r.stdout, new RegExp(`${esc(file)}: offset \\d+`))
      assert.match(r.stdout, /truncated/i, `verify output does not say truncated:\n${r.stdout}`)
    }
  })

  test('a directory without archives: exit 1', async () => {
    const empty = path.join(base, 'empty')
    await mkdir(empty)
    await copyFile(path.join(dir, 'notes.txt'), path.join(empty, 'notes.txt'))
    const r = await runCli(['verify', empty])
    assert.equal(r.code, 1)
    assert.equal(r.stdout, '0 file(s), 0 with problems\n')
  })
})

function esc (s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}
