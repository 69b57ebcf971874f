// Crash recovery: a `.tmp` archive left by a dead process is cut after its last whole block
// that ends on a record boundary, given its end mark and content checksum, and sealed.
import { open, readdir, rename, unlink } from 'node:fs/promises'
import path from 'node:path'
import { ArchiveError, decodeRaw, newSummary, readFileRecords } from './reader.js'
import { frameEnd, parseFrameHeader } from '../format/lz4-frame.js'
import { createXxh32 } from '../format/xxh32.js'

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

/** `.tmp` files this process is writing right now; recovery never touches them. */
export const liveTmpFiles = new Set<string>()

const TMP_NAME = /_(\d+)-[0-9a-f]+\.fbf(\.lz4)?\.tmp$/

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
    const finalPath = tmpPath.slice(0, -'.tmp'.length)
    if (sum.wholeStreamBytes === 0) {
      // Nothing whole to keep (no block yet, or an empty file).
      result.droppedBytes = sum.fileBytes
      await unlink(tmpPath)
      return result
    }
    result.droppedBytes = result.cut === undefined ? 0 : sum.fileBytes - sum.wholeFileBytes
    if (result.cut === undefined) {
      // Read to the end without a problem: already complete (crashed between seal and rename).
      result.records = sum.records
    } else {
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
        if (sum.format === 'lz4') {
          const head = Buffer.alloc(19)
          await fh.read(head, 0, 19, 0)
          const header = parseFrameHeader(head)
          const end = frameEnd(header?.contentChecksum ? hash.digest() : null)
          await fh.write(end, 0, end.length, sum.wholeFileBytes)
        }
        await fh.datasync()
      } finally {
        await fh.close()
      }
    }
    await rename(tmpPath, finalPath)
    result.sealed = finalPath
  } catch (err) {
    result.error = err as Error
  }
  return result
}

/**
 * Recovers every `.tmp` archive in `dir`. With `skipLive`, files named after a process that is
 * still running (another worker writing the same directory) are left alone.
 */
export async function recoverTmpFiles (dir: string, opts: { skipLive?: boolean } = {}): Promise<RecoveryResult[]> {
  const names = (await readdir(dir)).filter(n => /\.fbf(\.lz4)?\.tmp$/.test(n)).sort()
  const results: RecoveryResult[] = []
  for (const name of names) {
    const file = path.join(dir, name)
    if (liveTmpFiles.has(file)) continue
    const m = TMP_NAME.exec(name)
    if (opts.skipLive && m !== null && Number(m[1]) !== process.pid && isAlive(Number(m[1]))) continue
    results.push(await recoverTmpFile(file))
  }
  return results
}
