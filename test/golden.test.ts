// The archive bytes of a fixed input are pinned: a refactor of the write path must leave every
// byte of the file as it was. The inputs cover the parts of a record (headers with case, order
// and duplicates, binary and empty bodies, absent fields), several blocks (flushes and a batch
// limit) and both checksums.
//
// To change the format on purpose, regenerate with GOLDEN_WRITE=1 and say why in the commit.
import assert from 'node:assert/strict'
import { readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { liblz4Codec, type CodecName } from '../lib/format/codecs.js'
import type { RequestRecord } from '../lib/format/record.js'
import { tmpDir, writeArchive, type WriteStep } from './fixtures-core.js'
import { noise } from './tools.js'

// Compiled to dist/test/: the fixtures stay in the source tree.
const GOLDEN = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'test', 'fixtures', 'golden')

function goldenRecord (i: number): RequestRecord {
  const r: RequestRecord = {
    id: `golden-${i}`,
    method: ['GET', 'POST', 'PUT', 'DELETE'][i % 4],
    uri: `/golden/${i}?q=${i * 7}&Q=x%20y`,
    headers: `Host: golden.test\r\nX-Seq: ${i}\r\nx-seq: dup-${i}\r\nContent-Type: application/octet-stream\r\n\r\n`,
    body: i % 5 === 0 ? Buffer.alloc(0) : i % 3 === 0 ? noise(300 + i, i) : Buffer.from(`{"i":${i},"text":"${'golden '.repeat(i % 40)}"}`),
    timeNs: 1_700_000_000_000_000_000n + BigInt(i) * 1_000_003n
  }
  if (i % 4 === 1) r.remoteAddr = `127.0.0.${i % 250}`
  if (i % 4 === 1) r.remotePort = 40000 + i
  if (i % 6 === 2) r.httpVersion = '1.1'
  if (i % 7 === 3) { r.bodyLength = 5000; r.bodyTruncated = true }
  if (i % 8 === 5) { r.responseStatus = 200 + i; r.responseTimeNs = r.timeNs! + 12345n }
  return r
}

function steps (): WriteStep[] {
  const s: WriteStep[] = []
  for (let i = 0; i < 120; i++) {
    s.push(goldenRecord(i))
    if (i === 40 || i === 90) s.push('flush')
  }
  return s
}

interface Case { name: string, codec: CodecName, opts: Record<string, unknown> }

const CASES: Case[] = [
  { name: 'lz4js.fbf.lz4', codec: 'lz4js', opts: { batchBytes: 8192 } },
  { name: 'lz4js-block-checksum.fbf.lz4', codec: 'lz4js', opts: { blockChecksum: true, contentChecksum: false } },
  { name: 'none.fbf', codec: 'none', opts: { batchBytes: 8192 } },
  { name: 'liblz4.fbf.lz4', codec: 'liblz4', opts: { batchBytes: 8192 } }
]

for (const c of CASES) {
  for (const thread of [false, true]) {
    test(`golden archive bytes: ${c.name}${thread ? ' (compression thread)' : ''}`, async t => {
      if (c.codec === 'liblz4' && liblz4Codec === null) {
        if (process.env.CI === 'true') throw new Error('liblz4 (the lz4 package) is required in CI')
        t.skip('the lz4 package is not installed')
        return
      }
      const dir = await tmpDir(t)
      const sealed = await writeArchive(dir, { codec: c.codec, compressThread: thread, ...c.opts }, steps())
      assert.equal(sealed.length, 1)
      const bytes = await readFile(sealed[0].path)
      const file = path.join(GOLDEN, c.name)
      if (process.env.GOLDEN_WRITE === '1' && !thread) await writeFile(file, bytes)
      assert.ok(bytes.equals(await readFile(file)), `${sealed[0].path} differs from ${file}`)
    })
  }
}
