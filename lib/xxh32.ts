// xxHash32 (the LZ4 frame checksum) from xxhash-wasm, initialised once at module load.
import xxhash from 'xxhash-wasm'

const api = await xxhash()

/** One-shot xxh32 with seed 0, as LZ4 frames use it. */
export function xxh32 (data: Uint8Array): number {
  return api.h32Raw(data, 0) >>> 0
}

export interface Xxh32Stream {
  update (data: Uint8Array): Xxh32Stream
  digest (): number
}

/** Incremental xxh32 for an LZ4 frame's content checksum. */
export function createXxh32 (): Xxh32Stream {
  return api.create32(0)
}
