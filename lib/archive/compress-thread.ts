// One compression thread per process, shared by every ArchiveWriter: LZ4 and the content
// checksum cost about as much per record as Fastify's own request handling, and here they run
// beside the request thread instead of on it. Batches and outputs live in SharedArrayBuffers,
// so a job is a few numbers and references: nothing is copied or transferred.
import { Worker } from 'node:worker_threads'
import { CompressThreadError } from '../errors.js'

/** How far below the thread that starts it the compression thread runs (nice value, Linux). */
export const COMPRESS_THREAD_NICE = 5

export interface CompressJob {
  id: number
  codec: string
  raw: SharedArrayBuffer
  rawOffset: number
  rawLength: number
  out: SharedArrayBuffer
  outOffset: number
  outLength: number
  /** Frame header to write first (a file's first batch), or null. */
  header: Uint8Array | null
  blockChecksum: boolean
  /** Content checksum state before this batch (null: no content checksum). */
  hash: Uint8Array | null
}

export interface CompressResult {
  id: number
  length: number
  hash: Uint8Array | null
  error?: string
}

interface Pending {
  resolve: (r: CompressResult) => void
  reject: (e: Error) => void
}

/** A Buffer whose memory both threads can see. */
export function sharedBuffer (size: number): Buffer {
  return Buffer.from(new SharedArrayBuffer(size))
}

export function isShared (b: Buffer): boolean {
  return b.buffer instanceof SharedArrayBuffer
}

export class CompressThread {
  readonly #worker: Worker
  readonly #pending = new Map<number, Pending>()
  #seq = 0
  #failure: Error | null = null

  constructor () {
    this.#worker = new Worker(new URL('./compress-worker.js', import.meta.url), { name: 'blackhole-compress' })
    this.#worker.unref()
    this.#worker.on('message', (r: CompressResult) => {
      const p = this.#pending.get(r.id)
      if (p === undefined) return
      this.#pending.delete(r.id)
      if (this.#pending.size === 0) this.#worker.unref()
      if (r.error !== undefined) p.reject(new CompressThreadError(`compression thread: ${r.error}`))
      else p.resolve(r)
    })
    this.#worker.on('error', (err) => this.#fail(err))
    this.#worker.on('exit', (code) => this.#fail(new CompressThreadError(`compression thread exited with code ${code}`)))
  }

  /** Why the thread is gone, or null while it works. */
  get failure (): Error | null {
    return this.#failure
  }

  #fail (err: Error): void {
    this.#failure ??= err
    for (const p of this.#pending.values()) p.reject(this.#failure)
    this.#pending.clear()
  }

  /** Encodes `raw` into `out` (both shared) on the thread. */
  encode (job: Omit<CompressJob, 'id'>): Promise<CompressResult> {
    if (this.#failure !== null) return Promise.reject(this.#failure)
    const id = ++this.#seq
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject })
      // Keep the process alive while a job is out; an idle thread must not.
      if (this.#pending.size === 1) this.#worker.ref()
      this.#worker.postMessage({ ...job, id })
    })
  }
}

// Process-wide on purpose: one thread serves every writer of the process (see the top of the
// file); a thread per writer would multiply threads, not throughput.
let shared: CompressThread | null = null

/** The process's compression thread, started on first use. */
export function compressThread (): CompressThread {
  shared ??= new CompressThread()
  return shared
}
