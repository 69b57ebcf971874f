// The names this process gives its archive files, and how it knows them again.
import { randomBytes } from 'node:crypto'
import { archiveName, writerPid, writerRandom } from '../format/archive-name.js'

// Process-wide on purpose: the sequence keeps the files of one process in creation order within
// a second across all of its writers (readers and retention take name order as time order),
// which a count per writer would not.
let fileSeq = 0

// Drawn once per process: names stay unique across restarts that reuse a pid, and recovery
// tells this process's own files (open in one of its writers, or left for the next start)
// from those an earlier process with the same pid left behind.
const RANDOM = randomBytes(2).toString('hex')

/** The name of a new archive file of this process. */
export function newArchiveName (prefix: string, compressed: boolean): string {
  return archiveName(prefix, new Date(), process.pid, fileSeq++, RANDOM, compressed)
}

/** The file was named by this process (sealed or live). */
export function isThisProcessFile (name: string): boolean {
  return writerPid(name) === process.pid && writerRandom(name) === RANDOM
}
