// Retention: after each seal, the oldest sealed files of the writer's prefix are deleted while
// the directory holds more than retainBytes or retainFiles. Name order is time order.
import { readdir, stat, unlink } from 'node:fs/promises'
import path from 'node:path'
import { isArchiveName, writerPid } from '../format/archive-name.js'
import type { RateLimitedLog } from '../log.js'

export interface SealedListing {
  path: string
  name: string
  bytes: number
  mtime: Date
}

/** Sealed archive files in `dir` written with `prefix`, oldest first. */
export async function listSealed (dir: string, prefix: string): Promise<SealedListing[]> {
  const names = (await readdir(dir)).filter(n => isArchiveName(n) && writerPid(n, prefix) !== null).sort()
  const out = []
  for (const name of names) {
    const p = path.join(dir, name)
    try {
      const st = await stat(p)
      out.push({ path: p, name, bytes: st.size, mtime: st.mtime })
    } catch {
      // Removed meanwhile (retention in another process).
    }
  }
  return out
}

/** Deletes the oldest sealed files past the limits (0: no limit); the newest is always kept. Failures are logged. */
export async function retain (dir: string, o: { prefix: string, retainBytes: number, retainFiles: number }, log: RateLimitedLog): Promise<void> {
  const { retainBytes, retainFiles } = o
  if (retainBytes === 0 && retainFiles === 0) return
  try {
    const files = await listSealed(dir, o.prefix)
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
    log.error('retain', 'retention cleanup failed', err as Error)
  }
}
