// A positional write as a promise. Archive files are only ever written at explicit positions:
// a write that is repeated (the exit flush replaying the one in flight) lands on the same bytes.
import { write } from 'node:fs'

/** Writes `len` bytes of `buf` from `off` at file position `pos`; resolves with the bytes written. */
export function writeAt (fd: number, buf: Uint8Array, off: number, len: number, pos: number): Promise<number> {
  return new Promise((resolve, reject) => {
    write(fd, buf, off, len, pos, (err, n) => { err ? reject(err) : resolve(n) })
  })
}
