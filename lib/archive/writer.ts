// The archive writer: records are appended to an in-memory batch (batches.ts); full (or
// timed-out) batches are queued, and a single write loop (write-loop.ts) compresses each one
// into blocks of the file's LZ4 frame (batch-encoder.ts) and writes it with positional
// writes, one write in flight. Files are opened, rotated and sealed by file-cycle.ts; at
// process exit, exit-flush.ts writes and seals what is left.
//
// Guarantees: append() never blocks and never throws for I/O reasons; memory held by queued
// batches is bounded (past it records are dropped and counted); a write error costs the records
// of that batch only, and the file is cut back to its last whole block so it stays readable.
import { mkdir } from 'node:fs/promises'
import path from 'node:path'
import { getCodec, type BlockCodec } from '../format/codecs.js'
import type { RequestRecord } from '../format/record.js'
import { RateLimitedLog, silentLogger } from '../log.js'
import { BatchEncoder } from './batch-encoder.js'
import { Batches } from './batches.js'
import { flushAtExit, type WriterParts } from './exit-flush.js'
import { FileCycle } from './file-cycle.js'
import { recoverTmpFiles } from './recover.js'
import { listSealed, type SealedListing } from './retention.js'
import { WriteLoop } from './write-loop.js'
import { resolveWriterOptions, type ArchiveWriterOptions, type ResolvedWriterOptions } from './writer-options.js'
import { newCounters, type WriterStats } from './writer-stats.js'

export type { ArchiveWriterOptions, SealedFile } from './writer-options.js'
export type { WriterStats } from './writer-stats.js'

export class ArchiveWriter {
  readonly dir: string
  readonly codec: BlockCodec | null
  readonly #o: ResolvedWriterOptions
  readonly #log: RateLimitedLog
  readonly #parts: WriterParts
  /** The parts' batches, read on every record. */
  readonly #batches: Batches
  readonly #ready: Promise<void>
  #closing: Promise<void> | null = null
  #timer: NodeJS.Timeout | null = null
  /** Seals synchronously if the process exits before the writer is closed. */
  readonly #onExit = (): void => this.flushSync()

  constructor (opts: ArchiveWriterOptions) {
    const o = this.#o = resolveWriterOptions(opts)
    this.dir = path.resolve(o.dir)
    this.codec = getCodec(o.codec)
    const log = this.#log = new RateLimitedLog(o.logger ?? silentLogger, o.logIntervalMs)
    const counters = newCounters()
    const encoder = new BatchEncoder(this.codec, o, log)
    const files = new FileCycle(this.dir, o, this.codec !== null, counters, log)
    this.#ready = this.#start()
    // Surface start-up problems through ready(); appends meanwhile are queued.
    this.#ready.catch(() => {})
    const batches = this.#batches = new Batches(o, size => encoder.alloc(size), counters, log, () => loop.kick())
    const loop = new WriteLoop(this.#ready, batches, encoder, files, counters, log)
    this.#parts = { dir: this.dir, batches, loop, encoder, files, counters, log }
    if (o.flushOnExit) process.on('exit', this.#onExit)
    const period = Math.min(o.flushMs || Infinity, o.rotateMs || Infinity)
    if (period !== Infinity) {
      this.#timer = setInterval(() => this.#tick(), period)
      this.#timer.unref()
    }
  }

  /** Resolves when the directory exists and leftover `.tmp` files have been recovered. */
  ready (): Promise<void> {
    return this.#ready
  }

  async #start (): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 })
    if (this.#o.recover) {
      const results = await recoverTmpFiles(this.dir, { skipLive: true })
      for (const r of results) {
        if (r.error) this.#log.logger.warn({ file: r.file, err: r.error }, 'could not recover archive file')
        else this.#log.logger.info({ file: r.sealed, records: r.records, droppedBytes: r.droppedBytes }, `recovered ${r.records} records from an unsealed archive file`)
      }
    }
  }

  /** Encodes a record straight into the current batch. Returns false when it was dropped. */
  record (r: RequestRecord): boolean {
    return this.#batches.record(r)
  }

  /**
   * Appends one finished FlatBuffer record (copied; the caller may reuse `bytes` at once).
   * Returns false when the record was dropped (writer closed, or too much pending).
   */
  append (bytes: Uint8Array): boolean {
    return this.#batches.append(bytes)
  }

  #tick (): void {
    const { batches, files, loop } = this.#parts
    if (batches.closed) return
    if (files.current !== null) loop.checkLinked()
    if (this.#o.flushMs > 0) batches.endBatch()
    if (files.current !== null && files.due(files.current)) loop.rotate()
  }

  /** Sealed archive files in the directory (this writer's prefix), oldest first. */
  listSealed (): Promise<SealedListing[]> {
    return listSealed(this.dir, this.#o.prefix)
  }

  /** Writes the current batch and waits until everything appended so far is on disk. */
  async flush (): Promise<void> {
    this.#parts.batches.endBatch()
    await this.#parts.loop.idle()
  }

  /** Seals the current file (when it has records); the next record starts a new file. */
  async rotate (): Promise<void> {
    this.#parts.batches.endBatch()
    this.#parts.loop.rotate()
    await this.#parts.loop.idle()
  }

  /** Writes everything, seals the file and stops. Idempotent; later appends are dropped. */
  close (): Promise<void> {
    if (this.#closing !== null) return this.#closing
    this.#closing = (async () => {
      const { batches, loop, encoder } = this.#parts
      await this.#ready.catch(() => {})
      batches.endBatch()
      batches.close()
      if (this.#timer) clearInterval(this.#timer)
      loop.rotate()
      await loop.idle()
      process.off('exit', this.#onExit)
      // Nothing is written any more: the batch buffers need not outlive the writer's use.
      batches.release()
      encoder.release()
    })()
    return this.#closing
  }

  /**
   * Last-chance synchronous flush for process exit: writes every pending batch (and re-writes
   * the one in flight at its position), writes the end mark and renames the file.
   */
  flushSync (): void {
    process.off('exit', this.#onExit)
    if (this.#timer) clearInterval(this.#timer)
    flushAtExit(this.#parts)
  }

  stats (): WriterStats {
    const { counters: s, batches, files, encoder } = this.#parts
    const d = s.dropped
    return {
      recordsWritten: s.recordsWritten,
      recordsDropped: d.backpressure + d.writeError + d.closed + d.tooLarge,
      dropped: { ...d },
      bytesIn: s.bytesIn,
      bytesOut: s.bytesOut,
      blocks: s.blocks,
      filesSealed: s.filesSealed,
      writeErrors: s.writeErrors,
      pendingBytes: batches.pendingBytes,
      pendingRecords: batches.pendingRecords,
      currentFile: files.current?.tmpPath ?? null,
      compressThread: encoder.threaded
    }
  }
}
