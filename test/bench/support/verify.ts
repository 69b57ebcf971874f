// What a recorded archive holds, counted by `blackhole verify` in a child process.
import { start, stop, waitExit } from './processes.js'

/** `node CLI verify DIR`: the records and files it reports (one `records=` per file). */
export async function verifyArchive (cli: string, dir: string): Promise<{ records: number, files: number, ok: boolean, seconds: number, output: string }> {
  const t0 = performance.now()
  const p = start(process.execPath, [cli, 'verify', dir])
  const exit = await waitExit(p, 120_000) ?? (await stop(p)).exit
  const seconds = (performance.now() - t0) / 1000
  const out = p.output()
  let records = 0
  let files = 0
  for (const m of out.matchAll(/ records=(\d+)/g)) {
    records += Number(m[1])
    files++
  }
  return { records, files, ok: exit.code === 0, seconds, output: out }
}

export interface ArchiveTotals { records: number, files: number, fileBytes: number, streamBytes: number, ok: boolean, problems: string[] }

/**
 * `node CLI verify --json DIR...`: records, files, bytes on disk and decompressed record-stream
 * bytes, summed over the files; `ok` only when verify exits 0 and every file is whole.
 */
export async function verifyArchiveJson (cli: string, dir: string, timeoutMs = 600_000): Promise<ArchiveTotals> {
  const p = start(process.execPath, [cli, 'verify', '--json', dir])
  const exit = await waitExit(p, timeoutMs) ?? (await stop(p)).exit
  const t: ArchiveTotals = { records: 0, files: 0, fileBytes: 0, streamBytes: 0, ok: exit.code === 0, problems: [] }
  for (const line of p.output().split('\n')) {
    if (!line.startsWith('{')) {
      if (line.trim() !== '') t.problems.push(line.trim())
      continue
    }
    const r = JSON.parse(line) as { ok: boolean, records: number, fileBytes: number, streamBytes: number, problems: string[] }
    t.files++
    t.records += r.records
    t.fileBytes += r.fileBytes
    t.streamBytes += r.streamBytes
    if (!r.ok) t.ok = false
    t.problems.push(...r.problems)
  }
  if (t.files === 0) t.ok = false
  return t
}
