// The S3 object source on its own, with a scripted client: a body stream that breaks mid-object
// is resumed with a Range request on the same version, and reading goes on byte-exact.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import type { S3Client } from '@aws-sdk/client-s3'
import { ArchiveWriter, type SealedFile } from '../lib/archive/writer.js'
import { decodeRaw, readFileRecords } from '../lib/archive/reader.js'
import { openS3Object } from '../lib/s3/source.js'
import { noise, rmDir, tmpDir } from './tools.js'

interface Sent { Bucket: string, Key: string, Range?: string, IfMatch?: string }

/** Serves `data` in 64 KiB chunks; the first `breaks` bodies fail after `breakAfter` bytes. */
function scriptedClient (data: Buffer, breaks: number, breakAfter: number): { client: S3Client, sent: Sent[] } {
  const sent: Sent[] = []
  let broken = 0
  const client = {
    send: async (cmd: { input: Sent }) => {
      sent.push({ ...cmd.input })
      const from = cmd.input.Range === undefined ? 0 : Number(/^bytes=(\d+)-$/.exec(cmd.input.Range)?.[1])
      const fail = broken++ < breaks
      async function * body (): AsyncGenerator<Uint8Array> {
        let sentBytes = 0
        for (let at = from; at < data.length; at += 65536) {
          if (fail && sentBytes >= breakAfter) throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })
          const chunk = data.subarray(at, Math.min(at + 65536, data.length))
          sentBytes += chunk.length
          yield chunk
        }
      }
      return { ContentLength: data.length - from, ETag: '"v1"', Body: body() }
    }
  } as unknown as S3Client
  return { client, sent }
}

test('a broken body stream is resumed from the same byte with Range and If-Match', { timeout: 30_000 }, async (t) => {
  const dir = await tmpDir('s3-source')
  t.after(() => rmDir(dir))
  const sealed: SealedFile[] = []
  const w = new ArchiveWriter({ dir, flushMs: 0, recover: false, onSeal: f => sealed.push(f) })
  await w.ready()
  for (let i = 0; i < 40; i++) w.record({ id: `r${i}`, method: 'POST', uri: `/r/${i}`, headers: 'Host: x\r\n\r\n', body: noise(50_000, i), timeNs: BigInt(i + 1) })
  await w.close()
  const data = readFileSync(sealed[0].path)
  assert.ok(data.length > 1 << 20)

  const { client, sent } = scriptedClient(data, 2, 300_000)
  const src = await openS3Object('s3://bkt/p/file.fbf.lz4', client)
  assert.equal(src.size, data.length)
  const copy = Buffer.alloc(data.length)
  let at = 0
  for (;;) {
    const n = await src.read(copy, at, Math.min(100_000, data.length - at), at)
    if (n === 0) break
    at += n
  }
  await src.close()
  assert.equal(at, data.length)
  assert.ok(copy.equals(data), 'bytes read across two resumptions equal the object')
  assert.equal(sent.length, 3)
  assert.equal(sent[1].Range, 'bytes=327680-')
  assert.equal(sent[1].IfMatch, '"v1"')
  assert.equal(sent[2].Range, 'bytes=655360-')
})

test('the reader names the object and the offset when the stream breaks for good', { timeout: 30_000 }, async (t) => {
  const dir = await tmpDir('s3-source-fail')
  t.after(() => rmDir(dir))
  const sealed: SealedFile[] = []
  const w = new ArchiveWriter({ dir, flushMs: 0, recover: false, onSeal: f => sealed.push(f) })
  await w.ready()
  for (let i = 0; i < 40; i++) w.record({ id: `r${i}`, method: 'POST', uri: `/r/${i}`, headers: 'Host: x\r\n\r\n', body: noise(50_000, i), timeNs: BigInt(i + 1) })
  await w.close()
  const data = readFileSync(sealed[0].path)
  const { client } = scriptedClient(data, 10, 200_000)
  const src = await openS3Object('s3://bkt/p/file.fbf.lz4', client)
  const buf = Buffer.alloc(data.length)
  await assert.rejects(async () => {
    let at = 0
    for (;;) {
      const n = await src.read(buf, at, 1 << 20, at)
      if (n === 0) break
      at += n
    }
  }, /socket hang up/)
  await src.close()
  // Through the reader, on the s3:// name: records before the break, then an error naming it.
  let seen = 0
  await assert.rejects(async () => {
    const open = (f: string): ReturnType<typeof openS3Object> => openS3Object(f, scriptedClient(data, 10, 200_000).client)
    for await (const raw of readFileRecords('s3://bkt/p/file.fbf.lz4', { open })) {
      decodeRaw(raw)
      seen++
    }
  }, /^ArchiveError: s3:\/\/bkt\/p\/file\.fbf\.lz4: offset \d+: socket hang up/)
  assert.ok(seen > 0)
})
