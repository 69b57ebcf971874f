// Sealing an archive file, the one place it is defined: the writer, its exit flush and recovery
// all seal this way. A sealed file is complete under its final name and never written again.
import { close, closeSync, fdatasync, fdatasyncSync, fsyncSync, openSync, renameSync, writeSync } from 'node:fs'
import { open, rename } from 'node:fs/promises'
import path from 'node:path'
import { promisify } from 'node:util'
import { sealedName } from '../format/archive-name.js'
import { writeAt } from './write-at.js'

/** A file still under its live (`.tmp`) name. */
export interface Unsealed {
  /** Its descriptor; null for a file that already ends with its end mark and only needs its name. */
  fd: number | null
  /** Its live path. */
  path: string
  /** The end of its whole part, where the end mark goes. */
  bytes: number
  /** The frame's end mark and content checksum (frameEnd); null for a raw `.fbf` file, which gets nothing. */
  end: Buffer | null
}

export interface SealOptions {
  /** fdatasync the file before the rename, and sync the directory after it. */
  fsync: boolean
}

type Step =
  | { op: 'end', fd: number, end: Buffer, at: number }
  | { op: 'datasync', fd: number }
  | { op: 'close', fd: number }
  | { op: 'rename', from: string, to: string }
  | { op: 'syncDir', dir: string }

/**
 * What sealing is, in order: the end mark after the last whole block, the data on disk (with
 * fsync), the descriptor closed, the rename from `<name>.tmp` to `<name>` (atomic, same
 * directory), and the directory on disk (with fsync).
 */
function steps (file: Unsealed, o: SealOptions): Step[] {
  const s: Step[] = []
  const fd = file.fd
  if (fd !== null) {
    if (file.end !== null) s.push({ op: 'end', fd, end: file.end, at: file.bytes })
    if (o.fsync) s.push({ op: 'datasync', fd })
    s.push({ op: 'close', fd })
  }
  const sealed = sealedName(file.path)
  s.push({ op: 'rename', from: file.path, to: sealed })
  if (o.fsync) s.push({ op: 'syncDir', dir: path.dirname(sealed) })
  return s
}

const fdatasyncP = promisify(fdatasync)
const closeP = promisify(close)

/**
 * Seals `file` and returns its sealed path. `closeFd`, when given, closes the descriptor in
 * place of a plain close: the caller then knows whether it is still open if sealing fails.
 */
export async function seal (file: Unsealed, o: SealOptions, closeFd?: () => Promise<void>): Promise<string> {
  for (const s of steps(file, o)) {
    switch (s.op) {
      case 'end': await writeAt(s.fd, s.end, 0, s.end.length, s.at); break
      case 'datasync': await fdatasyncP(s.fd); break
      case 'close': await (closeFd === undefined ? closeP(s.fd) : closeFd()); break
      case 'rename': await rename(s.from, s.to); break
      case 'syncDir': await syncDir(s.dir); break
    }
  }
  return sealedName(file.path)
}

/**
 * Seals `file` synchronously, for a process that is exiting, and returns its sealed path. The
 * descriptor is left for the exiting process to close, since an async write may still use it.
 */
export function sealSync (file: Unsealed, o: SealOptions): string {
  for (const s of steps(file, o)) {
    switch (s.op) {
      case 'end': writeSync(s.fd, s.end, 0, s.end.length, s.at); break
      case 'datasync': fdatasyncSync(s.fd); break
      case 'close': break
      case 'rename': renameSync(s.from, s.to); break
      case 'syncDir': syncDirSync(s.dir); break
    }
  }
  return sealedName(file.path)
}

async function syncDir (dir: string): Promise<void> {
  const dh = await open(dir, 'r')
  try {
    await dh.sync()
  } finally {
    await dh.close()
  }
}

function syncDirSync (dir: string): void {
  const fd = openSync(dir, 'r')
  try {
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}
