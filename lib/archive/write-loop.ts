// The write loop: takes queued batches in order, encodes each one and writes it at the end of
// the file's whole part with positional writes, one write in flight (sonic-boom is the model).
// A write error costs the records of that batch only, and the file is cut back to its last
// whole block so it stays readable. Rotation and sealing happen between batches.
import { ftruncate } from 'node:fs'
import { promisify } from 'node:util'
import type { RateLimitedLog } from '../log.js'
import type { BatchEncoder, Encoded } from './batch-encoder.js'
import type { Batch, Batches } from './batches.js'
import type { FileCycle } from './file-cycle.js'
import { writeAt } from './write-at.js'
import type { WriterCounters } from './writer-stats.js'

/** The write in flight: replayed by the exit flush, since positional writes are idempotent. */
interface InFlight {
  batch: Batch
  /** The encoded bytes, once known, and where they go. */
  data: Buffer | null
  pos: number
}

const EAGAIN_RETRY_MS = 100
const EAGAIN_RETRIES = 100

const ftruncateP = promisify(ftruncate)
const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms).unref())

export class WriteLoop {
  readonly #ready: Promise<void>
  readonly #batches: Batches
  readonly #encoder: BatchEncoder
  readonly #files: FileCycle
  readonly #counters: WriterCounters
  readonly #log: RateLimitedLog
  #inFlight: InFlight | null = null
  #running: Promise<void> | null = null
  #rotateWanted = false
  /** The timer asks the loop to check that the open file still has a name. */
  #checkWanted = false

  /** Nothing is written before `ready` settles (the directory made, old files recovered). */
  constructor (ready: Promise<void>, batches: Batches, encoder: BatchEncoder, files: FileCycle, counters: WriterCounters, log: RateLimitedLog) {
    this.#ready = ready
    this.#batches = batches
    this.#encoder = encoder
    this.#files = files
    this.#counters = counters
    this.#log = log
  }

  /** Starts the loop unless it runs. */
  kick (): void {
    if (this.#running === null) {
      this.#running = this.#drain().finally(() => { this.#running = null })
    }
  }

  /** Resolves when the loop has nothing left to do. */
  async idle (): Promise<void> {
    while (this.#running !== null) await this.#running
  }

  /** Seals the current file once everything queued so far is written. */
  rotate (): void {
    this.#rotateWanted = true
    this.kick()
  }

  /** Checks, before the next batch, that the open file still has a name. */
  checkLinked (): void {
    this.#checkWanted = true
    this.kick()
  }

  /** For the exit flush: the write in flight, which the loop then abandons. */
  takeInFlight (): InFlight | null {
    const inFlight = this.#inFlight
    this.#inFlight = null
    return inFlight
  }

  async #drain (): Promise<void> {
    await this.#ready.catch(() => {})
    for (;;) {
      if (this.#checkWanted) {
        this.#checkWanted = false
        await this.#files.checkLinked()
      }
      const batch = this.#batches.next()
      if (batch !== undefined) {
        await this.#writeBatch(batch)
        this.#batches.done(batch)
        // Size and age rotation happen between batches, even while more are queued.
        const file = this.#files.current
        if (file !== null && this.#files.due(file)) await this.#files.seal()
        continue
      }
      // Explicit rotate() and close() seal once everything queued before them is written.
      if (this.#rotateWanted) {
        this.#rotateWanted = false
        await this.#files.seal()
      }
      if (!this.#batches.hasQueued()) return
    }
  }

  async #writeBatch (batch: Batch): Promise<void> {
    // In flight from here: the exit flush writes this batch itself if it runs meanwhile.
    const inFlight: InFlight = { batch, data: null, pos: 0 }
    this.#inFlight = inFlight
    let file = this.#files.current
    if (file === null) {
      try {
        file = await this.#files.open()
      } catch (err) {
        this.#inFlight = null
        this.#failBatch(batch, err as NodeJS.ErrnoException, 'open')
        return
      }
      if (this.#inFlight !== inFlight) {
        // The exit flush ran while the file was being opened and wrote the batch to a file of its own.
        await this.#files.discard(file)
        return
      }
      this.#files.current = file
    }
    let encoded: Encoded
    try {
      encoded = await this.#encoder.encode(batch, file)
    } catch (err) {
      if (this.#inFlight === inFlight) {
        this.#inFlight = null
        this.#failBatch(batch, err as NodeJS.ErrnoException, 'compress')
      }
      return
    }
    if (this.#inFlight !== inFlight) return // the exit flush took over while it was being encoded
    const { data, hash } = encoded
    const pos = file.bytes
    inFlight.data = data
    inFlight.pos = pos
    try {
      let done = 0
      let retries = 0
      while (done < data.length) {
        try {
          done += await writeAt(file.fd, data, done, data.length - done, pos + done)
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code
          if ((code === 'EAGAIN' || code === 'EBUSY') && retries++ < EAGAIN_RETRIES) {
            await sleep(EAGAIN_RETRY_MS)
            continue
          }
          throw err
        }
      }
      if (this.#inFlight !== inFlight) return // the exit flush took over
      this.#files.commit(file, batch, data.length, hash)
    } catch (err) {
      if (this.#inFlight !== inFlight) return
      this.#failBatch(batch, err as NodeJS.ErrnoException, 'write')
      // Cut the partial block off so the file stays a valid prefix of a frame.
      try {
        await ftruncateP(file.fd, file.bytes)
      } catch {
        await this.#files.abandon(file)
      }
    } finally {
      if (this.#inFlight === inFlight) this.#inFlight = null
    }
  }

  #failBatch (batch: Batch, err: NodeJS.ErrnoException, op: string): void {
    this.#counters.writeErrors++
    this.#counters.dropped.writeError += batch.records
    this.#log.error(`${op}-${err.code ?? 'error'}`, `archive ${op} failed (${err.code ?? err.message}): ${batch.records} records dropped`, err)
  }
}
