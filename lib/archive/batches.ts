// The writer's in-memory batches: records are encoded straight into the current batch; a full
// batch is queued for the write loop. Memory held by queued batches is bounded: past
// maxPendingBytes new records are dropped and counted, so appending never blocks or throws.
import { PreparedRequest, RecordTarget, w32, type RequestRecord } from '../format/record.js'
import type { RateLimitedLog } from '../log.js'
import type { DropReason, WriterCounters } from './writer-stats.js'

export interface Batch {
  buf: Buffer
  len: number
  records: number
}

const emptyBatch = (): Batch => ({ buf: Buffer.alloc(0), len: 0, records: 0 })

/** Buffers of full-size batches kept for reuse. */
const FREE_BUFFERS = 4

export class Batches {
  /** Bytes of the batches not yet written (current and queued), length prefixes included. */
  pendingBytes = 0
  pendingRecords = 0
  readonly #batchBytes: number
  readonly #maxPendingBytes: number
  readonly #alloc: (size: number) => Buffer
  readonly #counters: WriterCounters
  readonly #log: RateLimitedLog
  readonly #queued: () => void
  readonly #free: Buffer[] = []
  readonly #target = new RecordTarget()
  #current: Batch
  #queue: Batch[] = []
  #closed = false

  /**
   * `alloc` makes a batch buffer (shared memory while the compression thread is used);
   * `queued` is called each time a batch is queued.
   */
  constructor (o: { batchBytes: number, maxPendingBytes: number }, alloc: (size: number) => Buffer, counters: WriterCounters, log: RateLimitedLog, queued: () => void) {
    this.#batchBytes = o.batchBytes
    this.#maxPendingBytes = o.maxPendingBytes
    this.#alloc = alloc
    this.#counters = counters
    this.#log = log
    this.#queued = queued
    this.#current = this.#newBatch()
  }

  /** No more records are taken (they are dropped and counted as `closed`). */
  get closed (): boolean {
    return this.#closed
  }

  close (): void {
    this.#closed = true
  }

  #newBatch (): Batch {
    return { buf: this.#free.pop() ?? this.#alloc(this.#batchBytes), len: 0, records: 0 }
  }

  /** Encodes a record straight into the current batch. Returns false when it was dropped. */
  record (r: RequestRecord): boolean {
    if (this.#closed) return this.#drop('closed') >= 0
    const p = new PreparedRequest(r)
    const at = this.#reserve(p.size)
    if (at < 0) return false
    p.writeTo(this.#current.buf, at, this.#target)
    if (this.#current.len >= this.#batchBytes) this.endBatch()
    return true
  }

  /** Copies one finished record into the current batch. Returns false when it was dropped. */
  append (bytes: Uint8Array): boolean {
    if (this.#closed) return this.#drop('closed') >= 0
    const at = this.#reserve(bytes.length)
    if (at < 0) return false
    this.#target.copy(this.#current.buf, bytes, at)
    if (this.#current.len >= this.#batchBytes) this.endBatch()
    return true
  }

  /**
   * Makes room for a record of `size` bytes in the current batch, writes its length prefix and
   * returns where the record goes (-1: dropped and counted). The caller writes the record,
   * then ends the batch if it is full.
   */
  #reserve (size: number): number {
    const need = 8 + size
    if (this.pendingBytes + need > this.#maxPendingBytes) {
      return this.#drop(need > this.#maxPendingBytes ? 'tooLarge' : 'backpressure')
    }
    let batch = this.#current
    if (batch.len + need > batch.buf.length) {
      if (batch.len > 0) this.endBatch()
      batch = this.#current
      if (need > batch.buf.length) {
        // A record bigger than a batch gets a batch of its own.
        this.#free.push(batch.buf)
        batch = this.#current = { buf: this.#alloc(need), len: 0, records: 0 }
      }
    }
    const buf = batch.buf
    w32(buf, batch.len, size)
    w32(buf, batch.len + 4, 0)
    const at = batch.len + 8
    batch.len += need
    batch.records++
    this.pendingBytes += need
    this.pendingRecords++
    return at
  }

  #drop (reason: DropReason): -1 {
    this.#counters.dropped[reason]++
    if (reason !== 'closed') this.#log.warn(`drop-${reason}`, reason === 'backpressure' ? 'pending archive bytes over the limit: dropping records' : 'record larger than the pending limit: dropped')
    return -1
  }

  /** Queues the current batch for the write loop, when it holds records. */
  endBatch (): void {
    if (this.#current.len === 0) return
    this.#queue.push(this.#current)
    this.#current = this.#newBatch()
    this.#queued()
  }

  /** The oldest queued batch, taken off the queue. */
  next (): Batch | undefined {
    return this.#queue.shift()
  }

  hasQueued (): boolean {
    return this.#queue.length > 0
  }

  /** A batch taken with next() is done with (written or dropped): its bytes are no longer pending. */
  done (batch: Batch): void {
    // (The exit flush may have taken over meanwhile and zeroed the counts.)
    this.pendingBytes = Math.max(0, this.pendingBytes - batch.len)
    this.pendingRecords = Math.max(0, this.pendingRecords - batch.records)
    if (batch.buf.length === this.#batchBytes && this.#free.length < FREE_BUFFERS) this.#free.push(batch.buf)
  }

  /** For the exit flush: every batch not yet taken, in order (queued, then current), and no more records. */
  takeAll (): Batch[] {
    this.#closed = true
    const all = this.#current.len > 0 ? [...this.#queue, this.#current] : this.#queue
    this.#queue = []
    this.#current = emptyBatch()
    this.pendingBytes = 0
    this.pendingRecords = 0
    return all
  }

  /** Nothing is written any more: the batch buffers need not outlive the writer's use. */
  release (): void {
    this.#current = emptyBatch()
    this.#free.length = 0
    this.#target.release()
  }
}
