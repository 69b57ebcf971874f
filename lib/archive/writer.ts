// The archive writer: records are appended to an in-memory batch; full (or timed-out) batches
// are queued, and a single write loop compresses each one into blocks of the file's LZ4 frame
// and writes it with positional writes, one write in flight (sonic-boom is the model).
//
// Guarantees: append() never blocks and never throws for I/O reasons; memory held by queued
// batches is bounded (past it records are dropped and counted); a write error costs the records
// of that batch only, and the file is cut back to its last whole block so it stays readable.
import { close, fdatasync, fdatasyncSync, fstat, ftruncate, mkdirSync, openSync, renameSync, write, writeSync, open as openCb } from 'node:fs'
import { mkdir, open, readdir, rename, stat, unlink } from 'node:fs/promises'
import { promisify } from 'node:util'
import { randomBytes } from 'node:crypto'
import path from 'node:path'
import { getCodec, type BlockCodec } from '../format/codecs.js'
import { encodeBlocksInto, encodedBound, frameEnd, frameHeader, MAX_BLOCK_INPUT } from '../format/lz4-frame.js'
import { PreparedRequest, RecordTarget, w32, type RequestRecord } from '../format/record.js'
import { createXxh32, xxh32StateTransferable, type Xxh32Stream } from '../format/xxh32.js'
import { compressThread, isShared, sharedBuffer } from './compress-thread.js'
import { liveTmpFiles, recoverTmpFiles } from './recover.js'
import { RateLimitedLog, silentLogger } from '../log.js'
import { resolveWriterOptions, type ArchiveWriterOptions, type ResolvedWriterOptions, type SealedFile } from './writer-options.js'

export type { ArchiveWriterOptions, SealedFile } from './writer-options.js'

export interface WriterStats {
  recordsWritten: number
  recordsDropped: number
  dropped: { backpressure: number, writeError: number, closed: number, tooLarge: number }
  /** Record-stream bytes written (before compression). */
  bytesIn: number
  /** Bytes written to disk (after compression, frame overhead included). */
  bytesOut: number
  blocks: number
  filesSealed: number
  writeErrors: number
  pendingBytes: number
  pendingRecords: number
  currentFile: string | null
  /** Batches are compressed on the compression thread (false: on the calling thread). */
  compressThread: boolean
}

interface Batch {
  buf: Buffer
  len: number
  records: number
}

interface OpenFile {
  fd: number
  tmpPath: string
  finalPath: string
  /** Bytes on disk that are whole (header and complete blocks). */
  bytes: number
  records: number
  content: Xxh32Stream | null
  openedAt: number
}

/** Writers to seal synchronously if the process exits before they are closed. */
const openWriters = new Set<ArchiveWriter>()
let exitHookInstalled = false
function installExitHook (): void {
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.on('exit', () => {
    for (const w of openWriters) w.flushSync()
  })
}

let fileSeq = 0
const EAGAIN_RETRY_MS = 100
const EAGAIN_RETRIES = 100

function utcStamp (d: Date): string {
  return d.toISOString().replace(/[-:T]/g, '').slice(0, 14)
}

function writeAt (fd: number, buf: Uint8Array, off: number, len: number, pos: number): Promise<number> {
  return new Promise((resolve, reject) => {
    write(fd, buf, off, len, pos, (err, n) => { err ? reject(err) : resolve(n) })
  })
}

const openP = promisify(openCb)
const closeP = promisify(close)
const ftruncateP = promisify(ftruncate)
const fdatasyncP = promisify(fdatasync)
const fstatP = promisify(fstat)
const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms).unref())

export class ArchiveWriter {
  readonly dir: string
  readonly codec: BlockCodec | null
  readonly #o: ResolvedWriterOptions
  /** Batches are compressed on the compression thread (they live in shared memory then). */
  #threaded: boolean
  /** Output of the batch being encoded or written (one at a time). */
  #out: Buffer = Buffer.alloc(0)
  readonly #log: RateLimitedLog
  readonly #onSeal: ((file: SealedFile) => void) | undefined
  readonly #free: Buffer[] = []
  readonly #target = new RecordTarget()
  #batch: Batch
  #queue: Batch[] = []
  #pendingBytes = 0
  #pendingRecords = 0
  #file: OpenFile | null = null
  /** The write in flight: replayed by flushSync, since positional writes are idempotent. */
  #inFlight: { batch: Batch, data: Buffer | null, pos: number } | null = null
  #loop: Promise<void> | null = null
  #rotateWanted = false
  /** The timer asks the write loop to check that the open file still has a name. */
  #checkWanted = false
  #closing: Promise<void> | null = null
  #closed = false
  #timer: NodeJS.Timeout | null = null
  #ready: Promise<void>
  #stats = {
    recordsWritten: 0,
    dropped: { backpressure: 0, writeError: 0, closed: 0, tooLarge: 0 },
    bytesIn: 0,
    bytesOut: 0,
    blocks: 0,
    filesSealed: 0,
    writeErrors: 0
  }

  constructor (opts: ArchiveWriterOptions) {
    this.#o = resolveWriterOptions(opts)
    this.dir = path.resolve(this.#o.dir)
    this.codec = getCodec(this.#o.codec)
    this.#threaded = this.#o.compressThread && this.codec !== null && (xxh32StateTransferable || !this.#o.contentChecksum)
    this.#log = new RateLimitedLog(this.#o.logger ?? silentLogger, this.#o.logIntervalMs)
    this.#onSeal = this.#o.onSeal
    this.#batch = this.#newBatch()
    this.#ready = this.#start()
    // Surface start-up problems through ready(); appends meanwhile are queued.
    this.#ready.catch(() => {})
    if (this.#o.flushOnExit) {
      installExitHook()
      openWriters.add(this)
    }
    const period = Math.min(this.#o.flushMs || Infinity, this.#o.rotateMs || Infinity)
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

  #newBatch (): Batch {
    return { buf: this.#free.pop() ?? this.#alloc(this.#o.batchBytes), len: 0, records: 0 }
  }

  #alloc (size: number): Buffer {
    return this.#threaded ? sharedBuffer(size) : Buffer.allocUnsafe(size)
  }

  /** Encodes a record straight into the current batch. Returns false when it was dropped. */
  record (r: RequestRecord): boolean {
    if (this.#closed) return this.#drop('closed') >= 0
    const p = new PreparedRequest(r)
    const at = this.#reserve(p.size)
    if (at < 0) return false
    p.writeTo(this.#batch.buf, at, this.#target)
    if (this.#batch.len >= this.#o.batchBytes) this.#sealBatch()
    return true
  }

  /**
   * Appends one finished FlatBuffer record (copied; the caller may reuse `bytes` at once).
   * Returns false when the record was dropped (writer closed, or too much pending).
   */
  append (bytes: Uint8Array): boolean {
    if (this.#closed) return this.#drop('closed') >= 0
    const at = this.#reserve(bytes.length)
    if (at < 0) return false
    this.#target.copy(this.#batch.buf, bytes, at)
    if (this.#batch.len >= this.#o.batchBytes) this.#sealBatch()
    return true
  }

  /**
   * Makes room for a record of `size` bytes in the current batch, writes its length prefix and
   * returns where the record goes (-1: dropped and counted). The caller writes the record,
   * then seals the batch if it is full.
   */
  #reserve (size: number): number {
    const need = 8 + size
    if (this.#pendingBytes + need > this.#o.maxPendingBytes) {
      return this.#drop(need > this.#o.maxPendingBytes ? 'tooLarge' : 'backpressure')
    }
    let batch = this.#batch
    if (batch.len + need > batch.buf.length) {
      if (batch.len > 0) this.#sealBatch()
      batch = this.#batch
      if (need > batch.buf.length) {
        // A record bigger than a batch gets a batch of its own.
        this.#free.push(batch.buf)
        batch = this.#batch = { buf: this.#alloc(need), len: 0, records: 0 }
      }
    }
    const buf = batch.buf
    w32(buf, batch.len, size)
    w32(buf, batch.len + 4, 0)
    const at = batch.len + 8
    batch.len += need
    batch.records++
    this.#pendingBytes += need
    this.#pendingRecords++
    return at
  }

  #drop (reason: keyof WriterStats['dropped']): -1 {
    this.#stats.dropped[reason]++
    if (reason !== 'closed') this.#log.warn(`drop-${reason}`, reason === 'backpressure' ? 'pending archive bytes over the limit: dropping records' : 'record larger than the pending limit: dropped')
    return -1
  }

  #sealBatch (): void {
    if (this.#batch.len === 0) return
    this.#queue.push(this.#batch)
    this.#batch = this.#newBatch()
    this.#kick()
  }

  #kick (): void {
    if (this.#loop === null) {
      this.#loop = this.#drain().finally(() => { this.#loop = null })
    }
  }

  async #drain (): Promise<void> {
    await this.#ready.catch(() => {})
    for (;;) {
      if (this.#checkWanted) {
        this.#checkWanted = false
        await this.#checkLinked()
      }
      const batch = this.#queue.shift()
      if (batch !== undefined) {
        await this.#writeBatch(batch)
        // (flushSync may have taken over meanwhile and zeroed the counts.)
        this.#pendingBytes = Math.max(0, this.#pendingBytes - batch.len)
        this.#pendingRecords = Math.max(0, this.#pendingRecords - batch.records)
        if (batch.buf.length === this.#o.batchBytes && this.#free.length < 4) this.#free.push(batch.buf)
        // Size and age rotation happen between batches, even while more are queued.
        if (this.#file !== null && this.#due(this.#file)) await this.#sealFile()
        continue
      }
      // Explicit rotate() and close() seal once everything queued before them is written.
      if (this.#rotateWanted) {
        this.#rotateWanted = false
        await this.#sealFile()
      }
      if (this.#queue.length === 0) return
    }
  }

  #due (file: OpenFile): boolean {
    return file.bytes >= this.#o.rotateBytes ||
      (this.#o.rotateMs > 0 && file.records > 0 && Date.now() - file.openedAt >= this.#o.rotateMs)
  }

  #newFileName (): string {
    // The sequence keeps files of one process in creation order within a second; the random
    // part keeps names unique across restarts that reuse a pid.
    const unique = (fileSeq++).toString(16).padStart(6, '0') + randomBytes(2).toString('hex')
    const name = `${this.#o.prefix}_${utcStamp(new Date())}_${process.pid}-${unique}${this.codec ? '.fbf.lz4' : '.fbf'}`
    return path.join(this.dir, name)
  }

  async #openFile (): Promise<OpenFile> {
    const finalPath = this.#newFileName()
    await mkdir(this.dir, { recursive: true, mode: 0o700 })
    return this.#opened(await openP(finalPath + '.tmp', 'wx', 0o600), finalPath)
  }

  #opened (fd: number, finalPath: string): OpenFile {
    const tmpPath = finalPath + '.tmp'
    liveTmpFiles.add(tmpPath)
    return {
      fd,
      tmpPath,
      finalPath,
      bytes: 0,
      records: 0,
      content: this.codec && this.#o.contentChecksum ? createXxh32() : null,
      openedAt: Date.now()
    }
  }

  /** Encodes a batch on this thread into `out` (grown as needed); returns the bytes to write. */
  #encodeHere (batch: Batch, file: OpenFile, out: Buffer): Buffer {
    const raw = batch.buf.subarray(0, batch.len)
    if (this.codec === null) return raw
    const header = file.bytes === 0 ? frameHeader(this.#o) : null
    return out.subarray(0, encodeBlocksInto(this.codec, raw, this.#o.blockChecksum, out, header))
  }

  #outFor (batch: Batch): Buffer {
    const need = encodedBound(batch.len)
    if (this.#out.length < need) this.#out = this.#alloc(Math.max(need, encodedBound(this.#o.batchBytes)))
    return this.#out
  }

  /**
   * Encodes a batch for `file`: on the compression thread when possible, which also carries
   * the content checksum on (returned as the state after this batch); else right here.
   */
  async #encode (batch: Batch, file: OpenFile): Promise<{ data: Buffer, hash: Uint8Array | null }> {
    const out = this.#outFor(batch)
    if (this.#threaded && this.codec !== null && isShared(batch.buf) && isShared(out)) {
      const thread = compressThread()
      try {
        const r = await thread.encode({
          codec: this.codec.name,
          raw: batch.buf.buffer as SharedArrayBuffer,
          rawOffset: batch.buf.byteOffset,
          rawLength: batch.len,
          out: out.buffer as SharedArrayBuffer,
          outOffset: out.byteOffset,
          outLength: out.length,
          header: file.bytes === 0 ? frameHeader(this.#o) : null,
          blockChecksum: this.#o.blockChecksum,
          hash: file.content === null ? null : file.content.state()
        })
        return { data: out.subarray(0, r.length), hash: r.hash }
      } catch (err) {
        this.#threaded = false
        this.#log.error('compress-thread', 'compression thread failed; compressing on the request thread from now on', err as Error)
      }
    }
    return { data: this.#encodeHere(batch, file, out), hash: null }
  }

  /** `hash`: the content checksum state after this batch, when the compression thread computed it. */
  #commit (file: OpenFile, batch: Batch, written: number, hash: Uint8Array | null): void {
    file.bytes += written
    file.records += batch.records
    if (hash !== null) file.content = createXxh32(hash)
    else file.content?.update(batch.buf.subarray(0, batch.len))
    this.#stats.recordsWritten += batch.records
    this.#stats.bytesIn += batch.len
    this.#stats.bytesOut += written
    if (this.codec) this.#stats.blocks += Math.ceil(batch.len / MAX_BLOCK_INPUT)
  }

  async #writeBatch (batch: Batch): Promise<void> {
    // In flight from here: flushSync writes this batch itself if it runs meanwhile.
    const inFlight: { batch: Batch, data: Buffer | null, pos: number } = { batch, data: null, pos: 0 }
    this.#inFlight = inFlight
    let file = this.#file
    if (file === null) {
      try {
        file = await this.#openFile()
      } catch (err) {
        this.#inFlight = null
        this.#failBatch(batch, err as NodeJS.ErrnoException, 'open')
        return
      }
      if (this.#inFlight !== inFlight) {
        // flushSync ran while the file was being opened and wrote the batch to a file of its own.
        liveTmpFiles.delete(file.tmpPath)
        await closeP(file.fd).catch(() => {})
        await unlink(file.tmpPath).catch(() => {})
        return
      }
      this.#file = file
    }
    let encoded: { data: Buffer, hash: Uint8Array | null }
    try {
      encoded = await this.#encode(batch, file)
    } catch (err) {
      if (this.#inFlight === inFlight) {
        this.#inFlight = null
        this.#failBatch(batch, err as NodeJS.ErrnoException, 'compress')
      }
      return
    }
    if (this.#inFlight !== inFlight) return // flushSync took over while it was being encoded
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
      if (this.#inFlight !== inFlight) return // flushSync took over
      this.#commit(file, batch, data.length, hash)
    } catch (err) {
      if (this.#inFlight !== inFlight) return
      this.#failBatch(batch, err as NodeJS.ErrnoException, 'write')
      // Cut the partial block off so the file stays a valid prefix of a frame.
      try {
        await ftruncateP(file.fd, file.bytes)
      } catch {
        // The file cannot be repaired here: leave it as .tmp for recovery and start a new one.
        this.#file = null
        liveTmpFiles.delete(file.tmpPath)
        await closeP(file.fd).catch(() => {})
      }
    } finally {
      if (this.#inFlight === inFlight) this.#inFlight = null
    }
  }

  /**
   * The archive directory or the open file was removed (rm -rf): writes to the open descriptor
   * still succeed but reach no file. Found once per tick, so at most a tick of records is lost,
   * counted as dropped; the next batch opens a new file (and directory).
   */
  async #checkLinked (): Promise<void> {
    const file = this.#file
    if (file === null) return
    let nlink = 1
    try {
      nlink = (await fstatP(file.fd)).nlink
    } catch {
      return
    }
    if (nlink > 0 || this.#file !== file) return
    this.#file = null
    liveTmpFiles.delete(file.tmpPath)
    await closeP(file.fd).catch(() => {})
    this.#lost(file, 'removed')
  }

  /** The records of a file that can no longer be sealed were written for nothing. */
  #lost (file: OpenFile, why: string): void {
    this.#stats.writeErrors++
    this.#stats.recordsWritten -= file.records
    this.#stats.dropped.writeError += file.records
    this.#log.error(`lost-${why}`, `archive file ${file.tmpPath} was ${why} before it was sealed: ${file.records} records lost`)
  }

  #failBatch (batch: Batch, err: NodeJS.ErrnoException, op: string): void {
    this.#stats.writeErrors++
    this.#stats.dropped.writeError += batch.records
    this.#log.error(`${op}-${err.code ?? 'error'}`, `archive ${op} failed (${err.code ?? err.message}): ${batch.records} records dropped`, err)
  }

  async #sealFile (): Promise<void> {
    const file = this.#file
    if (file === null) return
    this.#file = null
    liveTmpFiles.delete(file.tmpPath)
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
      if (this.codec) {
        const end = frameEnd(file.content ? file.content.digest() : null)
        await writeAt(file.fd, end, 0, end.length, file.bytes)
        file.bytes += end.length
        this.#stats.bytesOut += end.length
      }
      if (this.#o.fsync) await fdatasyncP(file.fd)
      await closeOnce()
      await rename(file.tmpPath, file.finalPath)
      if (this.#o.fsync) await this.#syncDir()
      this.#sealed(file)
    } catch (err) {
      await closeOnce().catch(() => {})
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        this.#lost(file, 'removed')
      } else {
        this.#stats.writeErrors++
        this.#log.error('seal', `could not seal ${file.tmpPath}; it will be recovered at the next start`, err as Error)
      }
    }
    await this.#retain()
  }

  #sealed (file: OpenFile): void {
    this.#stats.filesSealed++
    const info = { path: file.finalPath, bytes: file.bytes, records: file.records }
    try {
      this.#onSeal?.(info)
    } catch (err) {
      this.#log.error('onSeal', 'onSeal callback threw', err as Error)
    }
  }

  async #syncDir (): Promise<void> {
    const dh = await open(this.dir, 'r')
    try {
      await dh.sync()
    } finally {
      await dh.close()
    }
  }

  async #retain (): Promise<void> {
    const { retainBytes, retainFiles } = this.#o
    if (retainBytes === 0 && retainFiles === 0) return
    try {
      const files = await this.listSealed()
      let total = files.reduce((s, f) => s + f.bytes, 0)
      let count = files.length
      // Oldest first; the newest file is always kept.
      for (const f of files.slice(0, -1)) {
        if ((retainBytes === 0 || total <= retainBytes) && (retainFiles === 0 || count <= retainFiles)) break
        await unlink(f.path)
        total -= f.bytes
        count--
      }
    } catch (err) {
      this.#log.error('retain', 'retention cleanup failed', err as Error)
    }
  }

  /** Sealed archive files in the directory (this writer's prefix), oldest first. */
  async listSealed (): Promise<Array<{ path: string, name: string, bytes: number, mtime: Date }>> {
    const names = (await readdir(this.dir)).filter(n => n.startsWith(this.#o.prefix + '_') && /\.fbf(\.lz4)?$/.test(n)).sort()
    const out = []
    for (const name of names) {
      const p = path.join(this.dir, name)
      try {
        const st = await stat(p)
        out.push({ path: p, name, bytes: st.size, mtime: st.mtime })
      } catch {
        // Removed meanwhile (retention in another process).
      }
    }
    return out
  }

  #tick (): void {
    if (this.#closed) return
    if (this.#file !== null) {
      this.#checkWanted = true
      this.#kick()
    }
    if (this.#o.flushMs > 0) this.#sealBatch()
    if (this.#file !== null && this.#due(this.#file)) {
      this.#rotateWanted = true
      this.#kick()
    }
  }

  /** Writes the current batch and waits until everything appended so far is on disk. */
  async flush (): Promise<void> {
    this.#sealBatch()
    while (this.#loop !== null) await this.#loop
  }

  /** Seals the current file (when it has records); the next record starts a new file. */
  async rotate (): Promise<void> {
    this.#sealBatch()
    this.#rotateWanted = true
    this.#kick()
    while (this.#loop !== null) await this.#loop
  }

  /** Writes everything, seals the file and stops. Idempotent; later appends are dropped. */
  close (): Promise<void> {
    if (this.#closing !== null) return this.#closing
    this.#closing = (async () => {
      await this.#ready.catch(() => {})
      this.#sealBatch()
      this.#closed = true
      if (this.#timer) clearInterval(this.#timer)
      this.#rotateWanted = true
      this.#kick()
      while (this.#loop !== null) await this.#loop
      openWriters.delete(this)
      // Nothing is written any more: the batch buffers need not outlive the writer's use.
      this.#batch = { buf: Buffer.alloc(0), len: 0, records: 0 }
      this.#free.length = 0
      this.#out = Buffer.alloc(0)
      this.#target.release()
    })()
    return this.#closing
  }

  /**
   * Last-chance synchronous flush for process exit: writes every pending batch (and re-writes
   * the one in flight at its position), writes the end mark and renames the file. The file
   * descriptor is left for the exiting process to close, since an async write may still use it.
   */
  flushSync (): void {
    openWriters.delete(this)
    this.#closed = true
    if (this.#timer) clearInterval(this.#timer)
    const inFlight = this.#inFlight
    this.#inFlight = null
    const batches = [...(inFlight ? [inFlight.batch] : []), ...this.#queue, ...(this.#batch.len > 0 ? [this.#batch] : [])]
    this.#queue = []
    this.#batch = { buf: Buffer.alloc(0), len: 0, records: 0 }
    this.#pendingBytes = 0
    this.#pendingRecords = 0
    let file = this.#file
    this.#file = null
    try {
      if (file === null) {
        if (batches.length === 0) return
        const finalPath = this.#newFileName()
        mkdirSync(this.dir, { recursive: true, mode: 0o700 })
        file = this.#opened(openSync(finalPath + '.tmp', 'wx', 0o600), finalPath)
      }
      liveTmpFiles.delete(file.tmpPath)
      for (const batch of batches) {
        // The write in flight is repeated at its own position: same bytes, same place.
        const replay = inFlight !== null && batch === inFlight.batch && inFlight.data !== null
        // (Never into this.#out: the compression thread may still be writing into it.)
        const data = replay ? inFlight.data as Buffer : this.#encodeHere(batch, file, Buffer.allocUnsafe(encodedBound(batch.len)))
        const pos = replay ? inFlight.pos : file.bytes
        let done = 0
        while (done < data.length) done += writeSync(file.fd, data, done, data.length - done, pos + done)
        this.#commit(file, batch, data.length, null)
      }
      if (file.records === 0) return
      if (this.codec) {
        const end = frameEnd(file.content ? file.content.digest() : null)
        writeSync(file.fd, end, 0, end.length, file.bytes)
        file.bytes += end.length
      }
      if (this.#o.fsync) fdatasyncSync(file.fd)
      renameSync(file.tmpPath, file.finalPath)
      this.#sealed(file)
    } catch (err) {
      this.#stats.writeErrors++
      this.#log.logger.error({ err }, `archive flushSync failed; ${file?.tmpPath ?? this.dir} is left for recovery at the next start`)
    }
  }

  stats (): WriterStats {
    const s = this.#stats
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
      pendingBytes: this.#pendingBytes,
      pendingRecords: this.#pendingRecords,
      currentFile: this.#file?.tmpPath ?? null,
      compressThread: this.#threaded
    }
  }
}
