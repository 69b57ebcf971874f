// The compression thread: turns a batch of records (a copy the request thread sent) into LZ4
// blocks, handed back without a copy, and carries the file's content checksum on from the
// state it is given. It holds no file state, so the request thread can always encode a batch
// itself instead (flushSync at exit does).
import { parentPort } from 'node:worker_threads'
import { getCodec, type CodecName } from './codecs.js'
import { encodeBlocksInto, encodedBound } from './lz4-frame.js'
import { createXxh32 } from './xxh32.js'
import type { CompressJob, CompressResult } from './compress-thread.js'

parentPort?.on('message', (job: CompressJob) => {
  let reply: CompressResult
  try {
    const codec = getCodec(job.codec as CodecName)
    if (codec === null) throw new Error('no codec')
    const raw = Buffer.from(job.raw.buffer, job.raw.byteOffset, job.raw.length)
    const out = Buffer.allocUnsafeSlow(encodedBound(raw.length))
    const length = encodeBlocksInto(codec, raw, job.blockChecksum, out, job.header)
    const hash = job.hash === null ? null : createXxh32(job.hash).update(raw).state()
    reply = { id: job.id, data: new Uint8Array(out.buffer, 0, length), hash }
    parentPort?.postMessage(reply, [out.buffer])
  } catch (err) {
    reply = { id: job.id, data: null, hash: null, error: (err as Error).message }
    parentPort?.postMessage(reply)
  }
})
