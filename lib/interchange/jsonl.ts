// JSON Lines ⇄ records. One object per line, the shape of `dump --json` (lib/interchange/dump.ts toJson):
// the export is byte for byte what `dump --json` prints, and the import reads it back.
import { createInterface } from 'node:readline'
import type { Readable } from 'node:stream'
import { decodeRaw, listArchiveFiles, readFileRecords } from '../archive/reader.js'
import { toJson, toJsonText } from './dump.js'
import { JsonlLineError } from '../errors.js'
import type { RequestRecord } from '../format/record.js'
import type { TextSink } from './atomic-file.js'
import type { ExportOptions } from './har.js'
import { decodeBase64, parseIsoNs } from './http-text.js'

/** The `dump --json` line of a record (with its `file`), newline included. */
export function toJsonLine (r: Parameters<typeof toJson>[0], file?: string): string {
  return toJsonText(r, file) + '\n'
}

/** Streams every record under `paths` into `sink` as JSON Lines. Returns the record count. */
export async function exportJsonl (paths: readonly string[], sink: TextSink, opts: ExportOptions = {}): Promise<number> {
  const files = await listArchiveFiles(paths, opts.sources)
  let n = 0
  for (const file of files) {
    for await (const raw of readFileRecords(file, opts)) {
      const r = decodeRaw(raw)
      if (opts.id !== undefined && r.id !== opts.id) continue
      n++
      if (!await sink.write(toJsonLine(r, file))) return n
    }
  }
  return n
}

const U64 = /^\d{1,20}$/
const U64_MAX = (1n << 64n) - 1n

/**
 * One parsed JSON line as a record. Required: `method` and `uri` (strings). Optional, with the
 * meaning `dump --json` gives them: `id`, `headers`, `body` (base64), `bodyLength`,
 * `bodyTruncated`, `timeNs` (decimal string or integer; without it `time`, ISO 8601, is used),
 * `remoteAddr`, `remotePort`, `httpVersion`, `responseStatus`, `responseTimeNs`. Other keys
 * (`file`, `time`...) are ignored.
 */
export function fromJsonObject (o: unknown, line: number): RequestRecord {
  const fail = (detail: string): never => { throw new JsonlLineError(line, detail) }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) return fail('not a JSON object')
  const j = o as Record<string, unknown>
  const str = (key: string, required = false): string | undefined => {
    const v = j[key]
    if (v === undefined || v === null) return required ? fail(`"${key}" is missing`) : undefined
    if (typeof v !== 'string') fail(`"${key}" must be a string`)
    return v as string
  }
  const int = (key: string, max: number): number | undefined => {
    const v = j[key]
    if (v === undefined || v === null) return undefined
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > max) fail(`"${key}" must be an integer from 0 to ${max}`)
    return v as number
  }
  const u64 = (key: string): bigint | undefined => {
    const v = j[key]
    if (v === undefined || v === null) return undefined
    if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return BigInt(v)
    if (typeof v !== 'string' || !U64.test(v) || BigInt(v) > U64_MAX) fail(`"${key}" must be a decimal string of an unsigned 64-bit integer`)
    return BigInt(v as string)
  }

  const r: RequestRecord = { method: str('method', true) as string, uri: str('uri', true) as string }
  const id = str('id')
  if (id !== undefined) r.id = id
  const headers = str('headers')
  if (headers !== undefined) r.headers = headers
  const body = str('body')
  if (body !== undefined) r.body = decodeBase64(body) ?? fail('"body" is not valid base64')
  const bodyLength = int('bodyLength', Number.MAX_SAFE_INTEGER)
  if (bodyLength !== undefined) {
    if (bodyLength < (r.body?.length ?? 0)) fail(`"bodyLength" ${bodyLength} is less than the body's ${r.body?.length ?? 0} bytes`)
    r.bodyLength = bodyLength
  }
  if (j.bodyTruncated !== undefined && j.bodyTruncated !== null) {
    if (typeof j.bodyTruncated !== 'boolean') fail('"bodyTruncated" must be true or false')
    r.bodyTruncated = j.bodyTruncated as boolean
  }
  const timeNs = u64('timeNs')
  if (timeNs !== undefined) {
    r.timeNs = timeNs
  } else {
    const time = str('time')
    if (time !== undefined) r.timeNs = parseIsoNs(time) ?? fail(`"time" '${time.slice(0, 40)}' is not an ISO 8601 date-time`)
  }
  const remoteAddr = str('remoteAddr')
  if (remoteAddr) r.remoteAddr = remoteAddr
  const remotePort = int('remotePort', 65535)
  if (remotePort) r.remotePort = remotePort
  const httpVersion = str('httpVersion')
  if (httpVersion) r.httpVersion = httpVersion
  const responseStatus = int('responseStatus', 65535)
  if (responseStatus) r.responseStatus = responseStatus
  const responseTimeNs = u64('responseTimeNs')
  if (responseTimeNs) r.responseTimeNs = responseTimeNs
  return r
}

/**
 * Reads JSON Lines from a stream, one line at a time (constant memory apart from the longest
 * line), yielding records with their line numbers. Blank lines are skipped. A bad line throws
 * a JsonlLineError naming it.
 */
export async function * readJsonl (input: Readable): AsyncGenerator<{ line: number, record: RequestRecord }> {
  const rl = createInterface({ input, crlfDelay: Infinity })
  let line = 0
  try {
    for await (const text of rl) {
      line++
      const t = line === 1 && text.charCodeAt(0) === 0xFEFF ? text.slice(1) : text
      if (t.trim() === '') continue
      let o: unknown
      try {
        o = JSON.parse(t)
      } catch (err) {
        throw new JsonlLineError(line, `not valid JSON (${(err as Error).message})`)
      }
      yield { line, record: fromJsonObject(o, line) }
    }
  } finally {
    rl.close()
  }
}
