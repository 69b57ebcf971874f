// The exit flush: the last chance, synchronous, for a process that exits before the writer is
// closed. Every pending batch is written (the one in flight again, at its own position), the
// file is sealed, and whatever cannot be done is left as `.tmp` for recovery at the next start.
import { writeSync } from 'node:fs'
import { encodedBound } from '../format/lz4-frame.js'
import type { RateLimitedLog } from '../log.js'
import type { BatchEncoder } from './batch-encoder.js'
import type { Batches } from './batches.js'
import type { FileCycle } from './file-cycle.js'
import type { WriteLoop } from './write-loop.js'
import type { WriterCounters } from './writer-stats.js'

export interface WriterParts {
  dir: string
  batches: Batches
  loop: WriteLoop
  encoder: BatchEncoder
  files: FileCycle
  counters: WriterCounters
  log: RateLimitedLog
}

/**
 * Writes every pending batch and seals the file, synchronously. The file descriptor is left
 * for the exiting process to close, since an async write may still use it.
 */
export function flushAtExit (w: WriterParts): void {
  const inFlight = w.loop.takeInFlight()
  const pending = w.batches.takeAll()
  const batches = inFlight === null ? pending : [inFlight.batch, ...pending]
  let file = w.files.current
  w.files.current = null
  try {
    if (file === null) {
      if (batches.length === 0) return
      file = w.files.openSync()
    }
    for (const batch of batches) {
      // The write in flight is repeated at its own position: same bytes, same place.
      const replay = inFlight !== null && batch === inFlight.batch && inFlight.data !== null
      // (Never into the encoder's output buffer: the compression thread may still be writing into it.)
      const data = replay ? inFlight.data as Buffer : w.encoder.encodeHere(batch, file, Buffer.allocUnsafe(encodedBound(batch.len)))
      const pos = replay ? inFlight.pos : file.bytes
      let done = 0
      while (done < data.length) done += writeSync(file.fd, data, done, data.length - done, pos + done)
      w.files.commit(file, batch, data.length, null)
    }
    if (file.records === 0) return
    w.files.sealSync(file)
  } catch (err) {
    w.counters.writeErrors++
    w.log.logger.error({ err }, `archive flushSync failed; ${file?.tmpPath ?? w.dir} is left for recovery at the next start`)
  }
}
