// The archive file-name rule, the one place it is written. A file is
//   PREFIX_YYYYMMDDhhmmss_PID-UNIQUE.fbf.lz4   (or .fbf without compression)
// named for the UTC second it was opened, so sorting names sorts files by time; `.tmp` is
// appended while the file is being written and removed when it is sealed. Readers accept any
// name ending in `.fbf` or `.fbf.lz4`, in any case (blackhole's own files and renamed copies).

/** Suffix of a file that is still being written. */
export const LIVE_SUFFIX = '.tmp'

const SEALED = /\.fbf(\.lz4)?$/i
const LIVE = /\.fbf(\.lz4)?\.tmp$/i
// The pid and unique parts of a name this package writes, sealed or live.
const OURS = /_(\d+)-([0-9a-f]+)\.fbf(\.lz4)?(\.tmp)?$/i

/** A sealed archive's name (or an s3 key): ends in `.fbf` or `.fbf.lz4`. */
export function isArchiveName (name: string): boolean {
  return SEALED.test(name)
}

/** A file that is still being written (or was left by a process that died). */
export function isLiveName (name: string): boolean {
  return LIVE.test(name)
}

/** The sealed name of a live file. */
export function sealedName (liveName: string): string {
  return liveName.slice(0, -LIVE_SUFFIX.length)
}

/** The live name a new file is written under. */
export function liveName (sealed: string): string {
  return sealed + LIVE_SUFFIX
}

/**
 * The name of a new archive file. `seq` orders the files of one process within a second and
 * `random` (hex) keeps names unique across restarts that reuse a pid.
 */
export function archiveName (prefix: string, opened: Date, pid: number, seq: number, random: string, compressed: boolean): string {
  const stamp = opened.toISOString().replace(/[-:T]/g, '').slice(0, 14)
  return `${prefix}_${stamp}_${pid}-${seq.toString(16).padStart(6, '0')}${random}${compressed ? '.fbf.lz4' : '.fbf'}`
}

/** The pid that wrote a file of ours (sealed or live), or null for another name. With `prefix`, only names that start with it. */
export function writerPid (name: string, prefix?: string): number | null {
  if (prefix !== undefined && !name.startsWith(prefix + '_')) return null
  const m = OURS.exec(name)
  return m === null ? null : Number(m[1])
}

/** The last four hex digits of a name of ours, sealed or live (the writer's `random`: see archiveName), or null for another name. */
export function writerRandom (name: string): string | null {
  const m = OURS.exec(name)
  return m === null ? null : m[2].slice(-4).toLowerCase()
}
