// Sharded replay: n processes (on n machines) each replay a disjoint share of a recording's
// files, so that together they replay every record once. A file belongs to the shard given by a
// hash of its name, not by its place in a listing: processes that list at different moments
// (files arriving, eventual listings) still never replay a file twice.
import { createHash } from 'node:crypto'
import { decodeRaw, listArchiveFiles, readFileRecords, type ArchiveRecord, type ReadOptions } from '../archive/reader.js'
import { ReplayError } from '../errors.js'

export interface Shard {
  /** 1-based: shard 1 of 3 is the first third. */
  index: number
  count: number
}

/** Integers with 1 <= index <= count. */
export function isShard ({ index, count }: Shard): boolean {
  return Number.isSafeInteger(count) && count >= 1 && Number.isSafeInteger(index) && index >= 1 && index <= count
}

/** Parses `i/n` (1 <= i <= n); the message names `flag`. */
export function parseShard (s: string, flag = '--shard'): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(s.trim())
  const shard = { index: m ? Number(m[1]) : NaN, count: m ? Number(m[2]) : NaN }
  if (!isShard(shard)) throw new ReplayError(`${flag} must look like i/n with 1 <= i <= n (e.g. 2/3), got '${s}'`)
  return shard
}

const baseName = (file: string): string => file.slice(Math.max(file.lastIndexOf('/'), file.lastIndexOf('\\')) + 1)

/** The shard (1-based) a file belongs to: by its base name, so copies of a recording agree. */
export function shardOf (file: string, count: number): number {
  return (createHash('sha256').update(baseName(file)).digest().readUInt32BE(0) % count) + 1
}

export function shardFiles (files: readonly string[], shard: Shard | undefined): string[] {
  if (shard === undefined || shard.count === 1) return [...files]
  return files.filter(f => shardOf(f, shard.count) === shard.index)
}

/** Decoded records of the shard's files under `paths` (all files without a shard), in name order. */
export async function * readShard (paths: readonly string[], shard?: Shard, opts: ReadOptions = {}): AsyncGenerator<ArchiveRecord> {
  for (const file of shardFiles(await listArchiveFiles(paths, opts.sources), shard)) {
    for await (const raw of readFileRecords(file, opts)) yield decodeRaw(raw)
  }
}
