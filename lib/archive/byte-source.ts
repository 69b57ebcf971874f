// Where an archive's bytes come from, as the reader sees them, and the local-file source.
import { open } from 'node:fs/promises'
import type { FileHandle } from 'node:fs/promises'

/**
 * Where an archive's bytes come from: a local file, or a stream (an S3 object body) that only
 * moves forward. Reads are positional; a stream skips ahead and never goes back, which is all
 * the reader asks for.
 */
export interface ByteSource {
  /** Names the source in errors: a path or an s3:// URL. */
  readonly name: string
  /** Total bytes. */
  readonly size: number
  /** Reads up to `len` bytes at `pos` into `buf[off..]`; 0 at the end. */
  read (buf: Uint8Array, off: number, len: number, pos: number): Promise<number>
  close (): Promise<void>
}

/** Opens a local file for positional reads. */
export async function openLocalFile (file: string): Promise<ByteSource> {
  const fh: FileHandle = await open(file, 'r')
  try {
    const size = (await fh.stat()).size
    return {
      name: file,
      size,
      read: async (buf, off, len, pos) => (await fh.read(buf, off, len, pos)).bytesRead,
      close: () => fh.close()
    }
  } catch (err) {
    await fh.close()
    throw err
  }
}
