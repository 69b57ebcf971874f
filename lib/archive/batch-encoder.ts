// Turns a batch into the bytes to append to its file: LZ4 blocks (after the frame header for a
// file's first batch) made on the compression thread when possible, else on this thread; raw
// `.fbf` files take the batch as it is.
import type { BlockCodec } from '../format/codecs.js'
import { encodeBlocksInto, encodedBound, frameHeader, type FrameOptions } from '../format/lz4-frame.js'
import { xxh32StateTransferable } from '../format/xxh32.js'
import type { RateLimitedLog } from '../log.js'
import type { Batch } from './batches.js'
import { compressThread, isShared, sharedBuffer } from './compress-thread.js'
import type { OpenFile } from './file-cycle.js'

export interface Encoded {
  data: Buffer
  /** The content checksum state after this batch, when the compression thread computed it. */
  hash: Uint8Array | null
}

export class BatchEncoder {
  readonly #codec: BlockCodec | null
  readonly #frame: FrameOptions
  readonly #batchBytes: number
  readonly #log: RateLimitedLog
  /** Batches are compressed on the compression thread (they live in shared memory then). */
  #threaded: boolean
  /** Output of the batch being encoded or written (one at a time). */
  #out: Buffer = Buffer.alloc(0)

  constructor (codec: BlockCodec | null, o: FrameOptions & { batchBytes: number, compressThread: boolean }, log: RateLimitedLog) {
    this.#codec = codec
    this.#frame = { blockChecksum: o.blockChecksum, contentChecksum: o.contentChecksum }
    this.#batchBytes = o.batchBytes
    this.#log = log
    // The thread carries the content checksum on from batch to batch, which needs a hash state
    // that can be copied between threads.
    this.#threaded = o.compressThread && codec !== null && (xxh32StateTransferable || !o.contentChecksum)
  }

  get threaded (): boolean {
    return this.#threaded
  }

  /** A buffer for a batch or an output: shared memory while the compression thread is used. */
  alloc (size: number): Buffer {
    return this.#threaded ? sharedBuffer(size) : Buffer.allocUnsafe(size)
  }

  /** Encodes a batch on this thread into `out` (which needs encodedBound(batch.len) bytes); returns the bytes to write. */
  encodeHere (batch: Batch, file: OpenFile, out: Buffer): Buffer {
    const raw = batch.buf.subarray(0, batch.len)
    if (this.#codec === null) return raw
    const header = file.bytes === 0 ? frameHeader(this.#frame) : null
    return out.subarray(0, encodeBlocksInto(this.#codec, raw, this.#frame.blockChecksum, out, header))
  }

  #outFor (batch: Batch): Buffer {
    const need = encodedBound(batch.len)
    if (this.#out.length < need) this.#out = this.alloc(Math.max(need, encodedBound(this.#batchBytes)))
    return this.#out
  }

  /**
   * Encodes a batch for `file`: on the compression thread when possible, which also carries
   * the content checksum on (returned as the state after this batch); else right here.
   */
  async encode (batch: Batch, file: OpenFile): Promise<Encoded> {
    const out = this.#outFor(batch)
    if (this.#threaded && this.#codec !== null && isShared(batch.buf) && isShared(out)) {
      const thread = compressThread()
      try {
        const r = await thread.encode({
          codec: this.#codec.name,
          raw: batch.buf.buffer as SharedArrayBuffer,
          rawOffset: batch.buf.byteOffset,
          rawLength: batch.len,
          out: out.buffer as SharedArrayBuffer,
          outOffset: out.byteOffset,
          outLength: out.length,
          header: file.bytes === 0 ? frameHeader(this.#frame) : null,
          blockChecksum: this.#frame.blockChecksum,
          hash: file.content === null ? null : file.content.state()
        })
        return { data: out.subarray(0, r.length), hash: r.hash }
      } catch (err) {
        this.#threaded = false
        this.#log.error('compress-thread', 'compression thread failed; compressing on the request thread from now on', err as Error)
      }
    }
    return { data: this.encodeHere(batch, file, out), hash: null }
  }

  release (): void {
    this.#out = Buffer.alloc(0)
  }
}
