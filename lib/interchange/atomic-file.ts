// Output that never leaves a half-written file: text goes to `NAME.tmp`, which is renamed to
// `NAME` only when the whole output was written.
import { open, rename, unlink } from 'node:fs/promises'
import type { FileHandle } from 'node:fs/promises'

/** Where text goes: `write` resolves false when the reader has gone (stop writing). */
export interface TextSink {
  write: (text: string) => Promise<boolean>
}

/**
 * A file written as `<path>.tmp` (mode 0600: recorded traffic holds secrets) and renamed to
 * `<path>` by commit(); abort() deletes the temporary file. Writes are buffered in 1 MiB chunks.
 */
export class AtomicFileSink implements TextSink {
  readonly tmpPath: string
  #chunks: string[] = []
  #buffered = 0
  #done = false

  private constructor (readonly path: string, private readonly fh: FileHandle) {
    this.tmpPath = path + '.tmp'
  }

  static async open (path: string): Promise<AtomicFileSink> {
    const fh = await open(path + '.tmp', 'w', 0o600)
    return new AtomicFileSink(path, fh)
  }

  async write (text: string): Promise<boolean> {
    this.#chunks.push(text)
    this.#buffered += text.length
    if (this.#buffered >= 1 << 20) await this.#flush()
    return true
  }

  async #flush (): Promise<void> {
    if (this.#chunks.length === 0) return
    const data = this.#chunks.join('')
    this.#chunks = []
    this.#buffered = 0
    await this.fh.writeFile(data)
  }

  /** Writes what is buffered, closes the file and renames it into place. */
  async commit (): Promise<void> {
    if (this.#done) return
    this.#done = true
    try {
      await this.#flush()
    } finally {
      await this.fh.close()
    }
    await rename(this.tmpPath, this.path)
  }

  /** Closes and deletes the temporary file; nothing is left at `path`. */
  async abort (): Promise<void> {
    if (this.#done) return
    this.#done = true
    this.#chunks = []
    await this.fh.close().catch(() => {})
    await unlink(this.tmpPath).catch(() => {})
  }
}
