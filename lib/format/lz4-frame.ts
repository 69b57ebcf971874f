// The LZ4 frame format (lz4_Frame_format.md), assembled by hand from block codecs so that a
// file can be one frame written batch by batch: header, blocks as batches arrive, then the
// end mark and content checksum when the file is sealed.
import type { BlockCodec } from './codecs.js'
import { xxh32 } from './xxh32.js'
import { FrameHeaderError } from '../errors.js'

export const LZ4_MAGIC = 0x184D2204
export const LZ4_LEGACY_MAGIC = 0x184C2102
/** Skippable frames use magics 0x184D2A50..0x184D2A5F. */
export const isSkippableMagic = (m: number): boolean => (m & 0xFFFFFFF0) === 0x184D2A50

/** BD byte for a 4 MiB maximum block size, as blackhole writes it. */
const BD_4MB = 0x70
export const MAX_BLOCK_SIZE = 4 << 20
/**
 * Blocks are kept strictly below the declared maximum: lz4js can end a full 4 MiB block with a
 * match 10 bytes before its end, which liblz4 rejects (lz4js issue 8).
 */
export const MAX_BLOCK_INPUT = MAX_BLOCK_SIZE - (64 << 10)

const FLG_VERSION = 0x40
const FLG_INDEPENDENT = 0x20
const FLG_BLOCK_CHECKSUM = 0x10
const FLG_CONTENT_SIZE = 0x08
const FLG_CONTENT_CHECKSUM = 0x04
const FLG_DICT_ID = 0x01
const UNCOMPRESSED_BIT = 0x80000000

export interface FrameOptions {
  blockChecksum: boolean
  contentChecksum: boolean
}

/** The 7-byte frame header: magic, FLG, BD (4 MiB blocks), header checksum. */
export function frameHeader (o: FrameOptions): Buffer {
  const h = Buffer.alloc(7)
  h.writeUInt32LE(LZ4_MAGIC, 0)
  h[4] = FLG_VERSION | FLG_INDEPENDENT | (o.blockChecksum ? FLG_BLOCK_CHECKSUM : 0) | (o.contentChecksum ? FLG_CONTENT_CHECKSUM : 0)
  h[5] = BD_4MB
  h[6] = (xxh32(h.subarray(4, 6)) >>> 8) & 0xFF
  return h
}

/** Bytes encodeBlocksInto may need for `rawLength` bytes of content: every block stored raw, plus a header. */
export function encodedBound (rawLength: number): number {
  return 7 + rawLength + Math.ceil(rawLength / MAX_BLOCK_INPUT) * 8
}

/**
 * Compresses `raw` into independent blocks (each under MAX_BLOCK_INPUT of content) written
 * into `out`, after `header` when given, and returns the bytes written. A block that does not
 * shrink is stored raw. `out` needs encodedBound(raw.length) bytes.
 */
export function encodeBlocksInto (codec: BlockCodec, raw: Uint8Array, blockChecksum: boolean, out: Buffer, header: Uint8Array | null): number {
  let pos = 0
  if (header !== null) {
    out.set(header, 0)
    pos = header.length
  }
  for (let at = 0; at < raw.length; at += MAX_BLOCK_INPUT) {
    const chunk = raw.subarray(at, Math.min(raw.length, at + MAX_BLOCK_INPUT))
    let size = codec.compressInto(chunk, out, pos + 4)
    if (size === 0) {
      size = chunk.length
      out.set(chunk, pos + 4)
      out.writeUInt32LE((size | UNCOMPRESSED_BIT) >>> 0, pos)
    } else {
      out.writeUInt32LE(size, pos)
    }
    pos += 4 + size
    if (blockChecksum) {
      out.writeUInt32LE(xxh32(out.subarray(pos - size, pos)), pos)
      pos += 4
    }
  }
  return pos
}

/** encodeBlocksInto a new buffer: the blocks, ready to append to a frame. */
export function encodeBlocks (codec: BlockCodec, raw: Uint8Array, blockChecksum: boolean): Buffer {
  const out = Buffer.allocUnsafe(encodedBound(raw.length))
  return out.subarray(0, encodeBlocksInto(codec, raw, blockChecksum, out, null))
}

/** End mark, then the content checksum when the frame declares one. */
export function frameEnd (contentChecksum: number | null): Buffer {
  const end = Buffer.alloc(contentChecksum === null ? 4 : 8)
  if (contentChecksum !== null) end.writeUInt32LE(contentChecksum >>> 0, 4)
  return end
}

export interface ParsedFrameHeader {
  /** Bytes taken by the header, magic included. */
  length: number
  blockChecksum: boolean
  contentChecksum: boolean
  independent: boolean
  maxBlockSize: number
}

/**
 * Parses a frame header from `b` (which starts at the magic). Returns null when `b` is too
 * short to hold the whole header; throws with a reason when the header is invalid.
 */
export function parseFrameHeader (b: Uint8Array): ParsedFrameHeader | null {
  if (b.length < 7) return null
  const flg = b[4]
  const bd = b[5]
  if ((flg & 0xC0) !== FLG_VERSION) throw new FrameHeaderError(`unsupported LZ4 frame version ${(flg >> 6) & 3}`)
  if ((flg & 0x02) !== 0 || (bd & 0x8F) !== 0) throw new FrameHeaderError('reserved bits set in LZ4 frame descriptor')
  const blockId = (bd >> 4) & 7
  if (blockId < 4) throw new FrameHeaderError(`invalid LZ4 block size id ${blockId}`)
  const length = 7 + ((flg & FLG_CONTENT_SIZE) ? 8 : 0) + ((flg & FLG_DICT_ID) ? 4 : 0)
  if (b.length < length) return null
  if ((flg & FLG_DICT_ID) !== 0) throw new FrameHeaderError('LZ4 frames with a dictionary id are not supported')
  const hc = (xxh32(b.subarray(4, length - 1)) >>> 8) & 0xFF
  if (hc !== b[length - 1]) throw new FrameHeaderError(`LZ4 frame header checksum mismatch (0x${b[length - 1].toString(16)}, expected 0x${hc.toString(16)})`)
  return {
    length,
    blockChecksum: (flg & FLG_BLOCK_CHECKSUM) !== 0,
    contentChecksum: (flg & FLG_CONTENT_CHECKSUM) !== 0,
    independent: (flg & FLG_INDEPENDENT) !== 0,
    maxBlockSize: 1 << (8 + 2 * blockId)
  }
}

export { UNCOMPRESSED_BIT }
