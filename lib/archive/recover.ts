// Crash recovery: a `.tmp` archive left by a dead process is cut after its last whole block
// that ends on a record boundary, given its end mark and content checksum, and sealed.
import { open, readdir, unlink } from 'node:fs/promises'
import path from 'node:path'
import { ArchiveError } from '../errors.js'
import { decodeRaw, newSummary, readFileRecords } from './reader.js'
import { isLiveName, writerPid } from '../format/archive-name.js'
import { frameEnd, parseFrameHeader } from '../format/lz4-frame.js'
import { createXxh32 } from '../format/xxh32.js'
import { isThisProcessFile } from './process-files.js'
import { seal } from './seal.js'

export interface RecoveryResult {
  file: string
  /** The sealed file's path, when something was kept. */
  sealed?: string
  records: number
  /** Bytes of the `.tmp` file that were cut off (an incomplete block or record, or damage). */
  droppedBytes: number
  /** Why reading stopped before the end of the file, if it did. */
  cut?: string
  error?: Error
}

/** The process exists (possibly another user's). */
export function isAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Seals one `.tmp` archive file, keeping every whole record. */
export async function recoverTmpFile (tmpPath: string): Promise<RecoveryResult> {
  const result: RecoveryResult = { file: tmpPath, records: 0, droppedBytes: 0 }
  try {
    // Pass 1: how far is the file whole? Records must decode too: a record whose FlatBuffer is
    // damaged ends the whole part (dump stops there), like a damaged block does.
    const sum = newSummary(tmpPath)
    try {
      for await (const raw of readFileRecords(tmpPath, {}, sum)) {
        try {
          decodeRaw(raw)
        } catch (err) {
          if (!(err instanceof ArchiveError)) throw err
          result.cut = err.message
          // The whole part ends at the last block boundary before this record (for raw
          // streams, at the record itself: the summary already counts it).
          if (sum.format === 'raw') sum.wholeFileBytes = sum.wholeStreamBytes = raw.streamOffset
          else sum.wholeStreamBytes = Math.min(sum.wholeStreamBytes, raw.streamOffset)
          break
        }
      }
    } catch (err) {
      if (!(err instanceof ArchiveError)) throw err
      result.cut = err.message
    }
    if (sum.wholeStreamBytes === 0) {
      // Nothing whole to keep (no block yet, or an empty file).
      result.droppedBytes = sum.fileBytes
      await unlink(tmpPath)
      return result
    }
    result.droppedBytes = result.cut === undefined ? 0 : sum.fileBytes - sum.wholeFileBytes
    if (result.cut === undefined) {
      // Read to the end without a problem: already complete (crashed between seal and rename),
      // so only its name is missing.
      result.records = sum.records
      result.sealed = await seal({ fd: null, path: tmpPath, bytes: sum.fileBytes, end: null }, { fsync: false })
      return result
    }
    // Pass 2: count the whole records and hash their content, then cut and close the frame.
    // The content checksum covers the last frame only (a .tmp may follow whole frames).
    let hash = createXxh32()
    let hashed = 0
    let frame = 0
    const sum2 = newSummary(tmpPath)
    const onContent = (chunk: Uint8Array): void => {
      if (sum2.frames !== frame) {
        frame = sum2.frames
        hash = createXxh32()
      }
      if (hashed < sum.wholeStreamBytes) hash.update(chunk)
      hashed += chunk.length
    }
    try {
      for await (const rec of readFileRecords(tmpPath, { onContent }, sum2)) {
        if (rec.streamOffset + 8 + rec.bytes.length > sum.wholeStreamBytes) break
        result.records++
      }
    } catch (err) {
      if (!(err instanceof ArchiveError)) throw err
    }
    const fh = await open(tmpPath, 'r+')
    try {
      await fh.truncate(sum.wholeFileBytes)
      let end: Buffer | null = null
      if (sum.format === 'lz4') {
        const head = Buffer.alloc(19)
        await fh.read(head, 0, 19, 0)
        const header = parseFrameHeader(head)
        end = frameEnd(header?.contentChecksum ? hash.digest() : null)
      }
      // Recovery has no fsync option of its own: it always syncs.
      result.sealed = await seal({ fd: fh.fd, path: tmpPath, bytes: sum.wholeFileBytes, end }, { fsync: true }, () => fh.close())
    } finally {
      await fh.close()
    }
  } catch (err) {
    result.error = err as Error
  }
  return result
}

/**
 * Recovers every `.tmp` archive in `dir`, except the files of this very process (open in one of
 * its writers, or left for its next start) and those `skip` names. With `skipLive`, files named
 * after another process that is still running (another worker writing the same directory) are
 * left alone too.
 */
export async function recoverTmpFiles (dir: string, opts: { skipLive?: boolean, skip?: (file: string) => boolean } = {}): Promise<RecoveryResult[]> {
  const names = (await readdir(dir)).filter(isLiveName).sort()
  const results: RecoveryResult[] = []
  for (const name of names) {
    const file = path.join(dir, name)
    if (isThisProcessFile(name) || opts.skip?.(file) === true) continue
    const pid = writerPid(name)
    if (opts.skipLive && pid !== null && pid !== process.pid && isAlive(pid)) continue
    results.push(await recoverTmpFile(file))
  }
  return results
}
