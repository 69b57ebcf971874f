// The life cycle of the writer's archive files: one is opened under its live (`.tmp`) name at
// its first batch, grows by whole blocks, is due for rotation by size or age, and is sealed;
// a file that loses its name before it is sealed is counted as lost.
import { close, fstat, mkdirSync, openSync, open as openCb } from 'node:fs'
import { mkdir, unlink } from 'node:fs/promises'
import path from 'node:path'
import { promisify } from 'node:util'
import { liveName } from '../format/archive-name.js'
import { frameEnd, MAX_BLOCK_INPUT } from '../format/lz4-frame.js'
import { createXxh32, type Xxh32Stream } from '../format/xxh32.js'
import type { RateLimitedLog } from '../log.js'
import type { Batch } from './batches.js'
import { newArchiveName } from './process-files.js'
import { retain } from './retention.js'
import { seal, sealSync, type Unsealed } from './seal.js'
import type { ResolvedWriterOptions, SealedFile } from './writer-options.js'
import type { WriterCounters } from './writer-stats.js'

export interface OpenFile {
  fd: number
  tmpPath: string
  finalPath: string
  /** Bytes on disk that are whole (header and complete blocks). */
  bytes: number
  records: number
  content: Xxh32Stream | null
  openedAt: number
}

type FileOptions = Pick<ResolvedWriterOptions, 'prefix' | 'contentChecksum' | 'fsync' | 'rotateBytes' | 'rotateMs' | 'retainBytes' | 'retainFiles' | 'onSeal'>

const openP = promisify(openCb)
const closeP = promisify(close)
const fstatP = promisify(fstat)

export class FileCycle {
  /** The file being written, or null until the next batch opens one. */
  current: OpenFile | null = null
  readonly #dir: string
  readonly #o: FileOptions
  readonly #compressed: boolean
  readonly #counters: WriterCounters
  readonly #log: RateLimitedLog

  constructor (dir: string, o: FileOptions, compressed: boolean, counters: WriterCounters, log: RateLimitedLog) {
    this.#dir = dir
    this.#o = o
    this.#compressed = compressed
    this.#counters = counters
    this.#log = log
  }

  /** Opens a new file (and the directory, if it was removed). It becomes current when the caller says so. */
  async open (): Promise<OpenFile> {
    const finalPath = path.join(this.#dir, newArchiveName(this.#o.prefix, this.#compressed))
    await mkdir(this.#dir, { recursive: true, mode: 0o700 })
    return this.#opened(await openP(liveName(finalPath), 'wx', 0o600), finalPath)
  }

  openSync (): OpenFile {
    const finalPath = path.join(this.#dir, newArchiveName(this.#o.prefix, this.#compressed))
    mkdirSync(this.#dir, { recursive: true, mode: 0o700 })
    return this.#opened(openSync(liveName(finalPath), 'wx', 0o600), finalPath)
  }

  #opened (fd: number, finalPath: string): OpenFile {
    return {
      fd,
      tmpPath: liveName(finalPath),
      finalPath,
      bytes: 0,
      records: 0,
      content: this.#compressed && this.#o.contentChecksum ? createXxh32() : null,
      openedAt: Date.now()
    }
  }

  /** The file is due for rotation: big enough, or old enough and holding records. */
  due (file: OpenFile): boolean {
    return file.bytes >= this.#o.rotateBytes ||
      (this.#o.rotateMs > 0 && file.records > 0 && Date.now() - file.openedAt >= this.#o.rotateMs)
  }

  /**
   * A batch landed in `file`: `written` bytes of it at the end of the whole part. `hash`: the
   * content checksum state after this batch, when the compression thread computed it.
   */
  commit (file: OpenFile, batch: Batch, written: number, hash: Uint8Array | null): void {
    file.bytes += written
    file.records += batch.records
    if (hash !== null) file.content = createXxh32(hash)
    else file.content?.update(batch.buf.subarray(0, batch.len))
    this.#counters.recordsWritten += batch.records
    this.#counters.bytesIn += batch.len
    this.#counters.bytesOut += written
    if (this.#compressed) this.#counters.blocks += Math.ceil(batch.len / MAX_BLOCK_INPUT)
  }

  #unsealed (file: OpenFile): Unsealed {
    return { fd: file.fd, path: file.tmpPath, bytes: file.bytes, end: this.#compressed ? frameEnd(file.content ? file.content.digest() : null) : null }
  }

  /** Seals the current file (an empty one is deleted), then applies retention. */
  async seal (): Promise<void> {
    const file = this.current
    if (file === null) return
    this.current = null
    let open = true
    const closeOnce = async (): Promise<void> => {
      // Never twice: the number may already belong to another file.
      if (open) {
        open = false
        await closeP(file.fd)
      }
    }
    try {
      if (file.records === 0) {
        await closeOnce()
        await unlink(file.tmpPath).catch(() => {})
        return
      }
      const unsealed = this.#unsealed(file)
      await seal(unsealed, this.#o, closeOnce)
      this.#sealed(file, unsealed)
    } catch (err) {
      await closeOnce().catch(() => {})
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        this.#lost(file, 'removed')
      } else {
        this.#counters.writeErrors++
        this.#log.error('seal', `could not seal ${file.tmpPath}; it will be recovered at the next start`, err as Error)
      }
    }
    await retain(this.#dir, this.#o, this.#log)
  }

  /** Seals `file` synchronously (the exit flush); throws when it cannot. */
  sealSync (file: OpenFile): void {
    const unsealed = this.#unsealed(file)
    sealSync(unsealed, this.#o)
    this.#sealed(file, unsealed)
  }

  #sealed (file: OpenFile, unsealed: Unsealed): void {
    if (unsealed.end !== null) {
      file.bytes += unsealed.end.length
      this.#counters.bytesOut += unsealed.end.length
    }
    this.#counters.filesSealed++
    const info: SealedFile = { path: file.finalPath, bytes: file.bytes, records: file.records }
    try {
      this.#o.onSeal?.(info)
    } catch (err) {
      this.#log.error('onSeal', 'onSeal callback threw', err as Error)
    }
  }

  /**
   * The archive directory or the open file was removed (rm -rf): writes to the open descriptor
   * still succeed but reach no file. Checked once per tick, so at most a tick of records is
   * lost, counted as dropped; the next batch opens a new file (and directory).
   */
  async checkLinked (): Promise<void> {
    const file = this.current
    if (file === null) return
    let nlink = 1
    try {
      nlink = (await fstatP(file.fd)).nlink
    } catch {
      return
    }
    if (nlink > 0 || this.current !== file) return
    this.current = null
    await closeP(file.fd).catch(() => {})
    this.#lost(file, 'removed')
  }

  /** The records of a file that can no longer be sealed were written for nothing. */
  #lost (file: OpenFile, why: string): void {
    this.#counters.writeErrors++
    this.#counters.recordsWritten -= file.records
    this.#counters.dropped.writeError += file.records
    this.#log.error(`lost-${why}`, `archive file ${file.tmpPath} was ${why} before it was sealed: ${file.records} records lost`)
  }

  /** The file cannot be repaired here: it is left as `.tmp` for recovery, and the next batch starts a new one. */
  async abandon (file: OpenFile): Promise<void> {
    this.current = null
    await closeP(file.fd).catch(() => {})
  }

  /** A file opened for nothing (the exit flush wrote the batch elsewhere): closed and deleted. */
  async discard (file: OpenFile): Promise<void> {
    await closeP(file.fd).catch(() => {})
    await unlink(file.tmpPath).catch(() => {})
  }
}
