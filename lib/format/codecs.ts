// LZ4 block codecs behind one interface. The writer assembles frames itself (see lz4-frame.ts),
// so a codec only has to compress and decompress independent blocks.
import { createRequire } from 'node:module'
import * as lz4js from 'lz4js'
import { CodecError, CorruptBlockError } from '../errors.js'

export { CorruptBlockError }

export interface BlockCodec {
  readonly name: 'liblz4' | 'lz4-napi' | 'lz4js'
  /** Compresses `src` as one independent LZ4 block. */
  compressBlock (src: Uint8Array): Uint8Array
  /**
   * Compresses `src` as one independent block into `dst` at `at` and returns its length, or 0
   * when the block would not be smaller than `src` (store it raw then). `dst` must have room
   * for `src.length` bytes at `at`.
   */
  compressInto (src: Uint8Array, dst: Uint8Array, at: number): number
  /**
   * Decompresses one block into a new array that the caller owns. `dict` is the previous
   * output (up to 64 KiB) for frames with linked blocks.
   * Throws CorruptBlockError when the block is malformed or decodes past `maxSize`.
   */
  decompressBlock (src: Uint8Array, maxSize: number, dict?: Uint8Array): Uint8Array
}

export type CodecName = 'auto' | 'liblz4' | 'lz4-napi' | 'lz4js' | 'none'
export const CODEC_NAMES: readonly CodecName[] = ['auto', 'liblz4', 'lz4-napi', 'lz4js', 'none']

// Each codec object owns its scratch buffers (a writer's, a reader's, the compression
// thread's): getCodec and readCodec make a new one, so no two users share them.
class Lz4jsCodec implements BlockCodec {
  readonly name = 'lz4js'
  // lz4js keeps every position in one table; a zeroed table makes the next block independent.
  #hashTable: Uint32Array | null = null
  #scratch = new Uint8Array(0)
  #out = new Uint8Array(0)

  compressBlock (src: Uint8Array): Uint8Array {
    const bound = lz4js.compressBound(src.length)
    if (this.#scratch.length < bound) this.#scratch = new Uint8Array(bound)
    this.#hashTable ??= new Uint32Array(1 << 16)
    this.#hashTable.fill(0)
    const n = lz4js.compressBlock(src, this.#scratch, 0, src.length, this.#hashTable)
    return this.#scratch.slice(0, n)
  }

  compressInto (src: Uint8Array, dst: Uint8Array, at: number): number {
    return copyIfSmaller(this.compressBlock(src), src.length, dst, at)
  }

  decompressBlock (src: Uint8Array, maxSize: number, dict?: Uint8Array): Uint8Array {
    // A linked block's matches reach back into the previous output, so it goes in front.
    const start = dict?.length ?? 0
    if (this.#out.length < start + maxSize) this.#out = new Uint8Array(start + maxSize)
    if (dict !== undefined) this.#out.set(dict, 0)
    // lz4js does no bounds checks: reads past `src` yield undefined and writes past the
    // output are dropped, so an overrun shows up as a length beyond maxSize.
    const end = lz4js.decompressBlock(src, this.#out, 0, src.length, start)
    if (!(end >= start && end - start <= maxSize)) throw new CorruptBlockError(`block decodes past ${maxSize} bytes`)
    return this.#out.slice(start, end)
  }
}

interface Lz4Napi {
  compressSync (data: Buffer): Buffer
  uncompressSync (data: Buffer, dict?: Buffer): Buffer
}

function loadLz4Napi (): Lz4Napi | null {
  try {
    return createRequire(import.meta.url)('lz4-napi') as Lz4Napi
  } catch {
    return null
  }
}

const napi = loadLz4Napi()

function copyIfSmaller (packed: Uint8Array, rawLength: number, dst: Uint8Array, at: number): number {
  if (packed.length === 0 || packed.length >= rawLength) return 0
  dst.set(packed, at)
  return packed.length
}

function asBuffer (u8: Uint8Array): Buffer {
  return Buffer.isBuffer(u8) ? u8 : Buffer.from(u8.buffer, u8.byteOffset, u8.length)
}

// lz4-napi allocates what it returns and keeps nothing between calls: one object serves everyone.
const lz4Napi: BlockCodec | null = napi === null
  ? null
  : {
      name: 'lz4-napi',
      compressBlock (src) {
        // compressSync prepends the u32 LE uncompressed size; the block follows it.
        return napi.compressSync(asBuffer(src)).subarray(4)
      },
      compressInto (src, dst, at) {
        return copyIfSmaller(this.compressBlock(src), src.length, dst, at)
      },
      decompressBlock (src, maxSize, dict) {
        // uncompressSync wants a u32 size prefix, used as the output capacity (allocated and
        // zeroed each call). Most blocks expand far less than to maxSize: try a guess first and
        // the full capacity only when the guess is too small.
        const input = Buffer.allocUnsafe(src.length + 4)
        input.set(src, 4)
        const guess = Math.min(maxSize, Math.max(64 << 10, src.length * 8))
        const attempt = (capacity: number): Buffer => {
          input.writeUInt32LE(capacity, 0)
          return dict === undefined ? napi.uncompressSync(input) : napi.uncompressSync(input, asBuffer(dict))
        }
        try {
          return attempt(guess)
        } catch (err) {
          if (guess === maxSize) throw new CorruptBlockError(`block does not decode: ${(err as Error).message}`)
        }
        try {
          return attempt(maxSize)
        } catch (err) {
          throw new CorruptBlockError(`block does not decode: ${(err as Error).message}`)
        }
      }
    }

// liblz4 itself (1.9, through the `lz4` package's addon, compiled at install): about twice
// lz4-napi's speed here and no allocation per block, since it compresses into our buffer.
interface Lz4Addon {
  encodeBlock (src: Uint8Array, dst: Uint8Array, start: number, end: number): number
  decodeBlock (src: Uint8Array, dst: Uint8Array): number
}

function loadLiblz4 (): Lz4Addon | null {
  try {
    return createRequire(import.meta.url)('lz4') as Lz4Addon
  } catch {
    return null
  }
}

const liblz4 = loadLiblz4()

class Liblz4Codec implements BlockCodec {
  readonly name = 'liblz4'
  #out = Buffer.alloc(0)
  /** Decodes linked blocks, which the addon cannot. */
  #linked: BlockCodec | null = null

  constructor (private readonly lib: Lz4Addon) {}

  compressBlock (src: Uint8Array): Uint8Array {
    const dst = Buffer.allocUnsafe(src.length)
    const n = this.compressInto(src, dst, 0)
    return n === 0 ? new Uint8Array(0) : dst.subarray(0, n)
  }

  compressInto (src: Uint8Array, dst: Uint8Array, at: number): number {
    // The capacity (end - start) is one byte short of the input, so liblz4 gives up (0)
    // exactly when the block would not shrink. (The addon trusts end: it must fit in dst.)
    if (src.length < 2 || at + src.length > dst.length) return 0
    return this.lib.encodeBlock(src, dst, at, at + src.length - 1)
  }

  decompressBlock (src: Uint8Array, maxSize: number, dict?: Uint8Array): Uint8Array {
    // The addon has no dictionary entry point: linked blocks (lz4 CLI -BD) take another codec.
    if (dict !== undefined) {
      this.#linked ??= lz4Napi ?? new Lz4jsCodec()
      return this.#linked.decompressBlock(src, maxSize, dict)
    }
    if (this.#out.length < maxSize) this.#out = Buffer.allocUnsafe(maxSize)
    const n = this.lib.decodeBlock(src, this.#out.length === maxSize ? this.#out : this.#out.subarray(0, maxSize))
    if (n < 0) throw new CorruptBlockError(`block does not decode (liblz4 error at input byte ${-n - 1})`)
    return Uint8Array.prototype.slice.call(this.#out, 0, n)
  }
}

// Ready-made instances for callers that pick an implementation themselves (tests, benchmarks);
// the library takes its own from getCodec and readCodec.
export const lz4jsCodec: BlockCodec = new Lz4jsCodec()
export const lz4NapiCodec: BlockCodec | null = lz4Napi
export const liblz4Codec: BlockCodec | null = liblz4 === null ? null : new Liblz4Codec(liblz4)

const CODEC_PACKAGES: Record<string, string> = { liblz4: 'lz4', 'lz4-napi': 'lz4-napi' }

/**
 * Returns a block codec of its own for a name, or null for `none` (raw `.fbf` files).
 * `auto` is the fastest installed: liblz4, then lz4-napi, then lz4js (always there).
 */
export function getCodec (name: CodecName = 'auto'): BlockCodec | null {
  switch (name) {
    case 'none': return null
    case 'lz4js': return new Lz4jsCodec()
    case 'liblz4':
      if (liblz4 === null) throw notInstalled(name)
      return new Liblz4Codec(liblz4)
    case 'lz4-napi':
      if (lz4Napi === null) throw notInstalled(name)
      return lz4Napi
    case 'auto': return readCodec()
    default: throw new CodecError(`unknown codec "${String(name)}": expected one of ${CODEC_NAMES.join(', ')}`)
  }
}

function notInstalled (name: 'liblz4' | 'lz4-napi'): Error {
  return new CodecError(`codec "${name}" is not installed (npm install ${CODEC_PACKAGES[name]}), use "lz4js"`)
}

/** A codec of its own of the fastest kind available, for reading any archive. */
export function readCodec (): BlockCodec {
  if (liblz4 !== null) return new Liblz4Codec(liblz4)
  return lz4Napi ?? new Lz4jsCodec()
}
