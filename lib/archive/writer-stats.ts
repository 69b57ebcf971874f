// What an archive writer counts. The parts of a writer (batches, write loop, file life cycle)
// share one set of counters, created by the writer and handed to each.

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

export type DropReason = keyof WriterStats['dropped']

/** The running totals; pending bytes and the current file are read from their owners. */
export interface WriterCounters {
  recordsWritten: number
  dropped: WriterStats['dropped']
  bytesIn: number
  bytesOut: number
  blocks: number
  filesSealed: number
  writeErrors: number
}

export function newCounters (): WriterCounters {
  return {
    recordsWritten: 0,
    dropped: { backpressure: 0, writeError: 0, closed: 0, tooLarge: 0 },
    bytesIn: 0,
    bytesOut: 0,
    blocks: 0,
    filesSealed: 0,
    writeErrors: 0
  }
}
