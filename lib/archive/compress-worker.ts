// The compression thread: turns a batch of records (in shared memory) into LZ4 blocks (written
// into shared memory) and carries the file's content checksum on from the state it is given.
// It holds no file state, so the request thread can take any batch back and encode it itself.
import os from 'node:os'
import { parentPort } from 'node:worker_threads'
import { getCodec, type CodecName } from '../format/codecs.js'
import { encodeBlocksInto } from '../format/lz4-frame.js'
import { createXxh32 } from '../format/xxh32.js'
import { COMPRESS_THREAD_NICE, type CompressJob, type CompressResult } from './compress-thread.js'

// Below the request thread: where both share a core, a batch waits (memory is bounded by the
// writer's pending limit) rather than the requests. On Linux this sets this thread's own nice
// value only, relative to the thread that started it; elsewhere it may fail, and the thread
// runs at the process's priority.
try {
  os.setPriority(Math.min(19, os.getPriority() + COMPRESS_THREAD_NICE))
} catch {}

parentPort?.on('message', (job: CompressJob) => {
  let reply: CompressResult
  try {
    const codec = getCodec(job.codec as CodecName)
    if (codec === null) throw new Error('no codec')
    const raw = Buffer.from(job.raw, job.rawOffset, job.rawLength)
    const out = Buffer.from(job.out, job.outOffset, job.outLength)
    const length = encodeBlocksInto(codec, raw, job.blockChecksum, out, job.header)
    const hash = job.hash === null ? null : createXxh32(job.hash).update(raw).state()
    reply = { id: job.id, length, hash }
  } catch (err) {
    reply = { id: job.id, length: 0, hash: null, error: (err as Error).message }
  }
  parentPort?.postMessage(reply)
})
