// xxHash32 (the LZ4 frame checksum). The streaming hash comes from the native xxhash addon
// that ships with the `lz4` package when it is installed: its state is a plain 48-byte struct
// that can be copied, so a file's content checksum can be carried on by another thread (the
// compression worker) and resumed here by flushSync at exit. xxhash-wasm is the fallback.
import { createRequire } from 'node:module'
import xxhash from 'xxhash-wasm'
import { MissingPackageError } from '../errors.js'

const api = await xxhash()

interface NativeXxh {
  init (seed: number): Buffer
  update (state: Buffer, data: Uint8Array): void
  digest (state: Buffer): number
}

function loadNative (): NativeXxh | null {
  try {
    const x = createRequire(import.meta.url)('lz4/build/Release/xxhash.node') as NativeXxh
    // Check the struct really is self-contained before relying on copies of it.
    const s = x.init(0)
    x.update(s, Buffer.from('fastify-blackhole'))
    return (x.digest(Buffer.from(s)) >>> 0) === (api.h32Raw(Buffer.from('fastify-blackhole'), 0) >>> 0) ? x : null
  } catch {
    return null
  }
}

const native = loadNative()

/** One-shot xxh32 with seed 0, as LZ4 frames use it. */
export function xxh32 (data: Uint8Array): number {
  return api.h32Raw(data, 0) >>> 0
}

export interface Xxh32Stream {
  update (data: Uint8Array): Xxh32Stream
  digest (): number
  /** A copy of the hash state (null when the implementation cannot export it). */
  state (): Uint8Array | null
}

/** True when streams can export their state (createXxh32(state) resumes it). */
export const xxh32StateTransferable = native !== null

/** Incremental xxh32 for an LZ4 frame's content checksum, optionally resumed from `state()`. */
export function createXxh32 (state?: Uint8Array): Xxh32Stream {
  if (native !== null) {
    const n = native
    const s = state === undefined ? n.init(0) : Buffer.from(state)
    const stream: Xxh32Stream = {
      update (data) {
        n.update(s, data)
        return stream
      },
      digest: () => n.digest(s) >>> 0,
      state: () => new Uint8Array(s)
    }
    return stream
  }
  if (state !== undefined) throw new MissingPackageError('xxh32 state cannot be resumed without the native xxhash addon (package lz4)')
  const h = api.create32(0)
  const stream: Xxh32Stream = {
    update (data) {
      h.update(data)
      return stream
    },
    digest: () => h.digest() >>> 0,
    state: () => null
  }
  return stream
}
