// LZ4 block codecs behind one interface. The writer assembles frames itself (see lz4-frame.ts),
// so a codec only has to compress and decompress independent blocks.
import { createRequire } from 'node:module'
import * as lz4js from 'lz4js'

export interface BlockCodec {
  readonly name: 'lz4-napi' | 'lz4js'
  /** Compresses `src` as one independent LZ4 block. */
  compressBlock (src: Uint8Array): Uint8Array
  /**
   * Decompresses one block into a new array that the caller owns. `dict` is the previous
   * output (up to 64 KiB) for frames with linked blocks.
   * Throws CorruptBlockError when the block is malformed or decodes past `maxSize`.
   */
  decompressBlock (src: Uint8Array, maxSize: number, dict?: Uint8Array): Uint8Array
}

export type CodecName = 'auto' | 'lz4-napi' | 'lz4js' | 'none'
export const CODEC_NAMES: readonly CodecName[] = ['auto', 'lz4-napi', 'lz4js', 'none']

export class CorruptBlockError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'CorruptBlockError'
  }
}

// lz4js keeps every position in one table; a zeroed table makes the next block independent.
const hashTable = new Uint32Array(1 << 16)
let lz4jsScratch = new Uint8Array(0)
let lz4jsOut = new Uint8Array(0)

export const lz4jsCodec: BlockCodec = {
  name: 'lz4js',
  compressBlock (src) {
    const bound = lz4js.compressBound(src.length)
    if (lz4jsScratch.length < bound) lz4jsScratch = new Uint8Array(bound)
    hashTable.fill(0)
    const n = lz4js.compressBlock(src, lz4jsScratch, 0, src.length, hashTable)
    return lz4jsScratch.slice(0, n)
  },
  decompressBlock (src, maxSize, dict) {
    // A linked block's matches reach back into the previous output, so it goes in front.
    const start = dict?.length ?? 0
    if (lz4jsOut.length < start + maxSize) lz4jsOut = new Uint8Array(start + maxSize)
    if (dict !== undefined) lz4jsOut.set(dict, 0)
    // lz4js does no bounds checks: reads past `src` yield undefined and writes past the
    // output are dropped, so an overrun shows up as a length beyond maxSize.
    const end = lz4js.decompressBlock(src, lz4jsOut, 0, src.length, start)
    if (!(end >= start && end - start <= maxSize)) throw new CorruptBlockError(`block decodes past ${maxSize} bytes`)
    return lz4jsOut.slice(start, end)
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

function asBuffer (u8: Uint8Array): Buffer {
  return Buffer.isBuffer(u8) ? u8 : Buffer.from(u8.buffer, u8.byteOffset, u8.length)
}

export const lz4NapiCodec: BlockCodec | null = napi === null
  ? null
  : {
      name: 'lz4-napi',
      compressBlock (src) {
        // compressSync prepends the u32 LE uncompressed size; the block follows it.
        return napi.compressSync(asBuffer(src)).subarray(4)
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

/**
 * Returns the block codec for a name, or null for `none` (raw `.fbf` files).
 * `auto` is lz4-napi when the optional dependency is installed, else lz4js.
 */
export function getCodec (name: CodecName = 'auto'): BlockCodec | null {
  switch (name) {
    case 'none': return null
    case 'lz4js': return lz4jsCodec
    case 'lz4-napi':
      if (lz4NapiCodec === null) throw new Error('codec "lz4-napi" is not installed (npm install lz4-napi), use "lz4js"')
      return lz4NapiCodec
    case 'auto': return lz4NapiCodec ?? lz4jsCodec
    default: throw new Error(`unknown codec "${String(name)}": expected one of ${CODEC_NAMES.join(', ')}`)
  }
}

/** The fastest codec available, for reading any archive. */
export function readCodec (): BlockCodec {
  return lz4NapiCodec ?? lz4jsCodec
}
