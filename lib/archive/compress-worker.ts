// The compression thread: turns a batch of records (in shared memory) into LZ4 blocks (written
// into shared memory) and carries the file's content checksum on from the state it is given.
// It holds no file state, so the request thread can take any batch back and encode it itself.
import os from 'node:os'
import { parentPort, type MessagePort } from 'node:worker_threads'
import { getCodec, type BlockCodec, type CodecName } from '../format/codecs.js'
import { encodeBlocksInto } from '../format/lz4-frame.js'
import { createXxh32 } from '../format/xxh32.js'
import { CodecError } from '../errors.js'
import { COMPRESS_THREAD_NICE, type CompressJob, type CompressResult } from './compress-thread.js'

// Below the request thread: where both share a core, a batch waits (memory is bounded by the
// writer's pending limit) rather than the requests. On Linux this sets this thread's own nice
// value only, relative to the thread that started it; elsewhere it may fail, and the thread
// runs at the process's priority.
try {
  os.setPriority(Math.min(19, os.getPriority() + COMPRESS_THREAD_NICE))
} catch {}

/** Answers the jobs of `port`, with one codec (and its scratch) per codec name. */
function serve (port: MessagePort): void {
  const codecs = new Map<string, BlockCodec>()
  const codecFor = (name: string): BlockCodec => {
    const known = codecs.get(name)
    if (known !== undefined) return known
    const codec = getCodec(name as CodecName)
    if (codec === null) throw new CodecError('no codec')
    codecs.set(name, codec)
    return codec
  }
  port.on('message', (job: CompressJob) => {
    let reply: CompressResult
    try {
      const codec = codecFor(job.codec)
      const raw = Buffer.from(job.raw, job.rawOffset, job.rawLength)
      const out = Buffer.from(job.out, job.outOffset, job.outLength)
      const length = encodeBlocksInto(codec, raw, job.blockChecksum, out, job.header)
      const hash = job.hash === null ? null : createXxh32(job.hash).update(raw).state()
      reply = { id: job.id, length, hash }
    } catch (err) {
      reply = { id: job.id, length: 0, hash: null, error: (err as Error).message }
    }
    port.postMessage(reply)
  })
}

if (parentPort !== null) serve(parentPort)
