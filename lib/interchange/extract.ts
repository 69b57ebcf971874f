// One record as a raw HTTP/1.1 request message file, ready for `nc HOST PORT < file`.
//
// The request line is `<method> <uri> HTTP/1.1`, then the recorded header block as stored, then
// the body. What is changed so that a server reads exactly the recorded body:
// - recorded `Transfer-Encoding: chunked`: the headers stay as recorded and the stored
//   (de-chunked) body is sent re-chunked as one chunk and the last chunk (trailers were not
//   recorded);
// - otherwise a `Content-Length` that does not match the stored body (a truncated body) is
//   rewritten to the stored length, and one is added when the body is not empty and there is
//   none;
// - HTTP/2 pseudo-header lines (`:authority: ...`) are dropped, and a `Host` line is added from
//   `:authority` when the record has no Host.
// Every change is reported in `notes`.
import { mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { decodeRaw, listArchiveFiles, readFileRecords, type ReadOptions } from '../archive/reader.js'
import type { DecodedRequest } from '../format/record.js'
import { headerLines, parseHeaderLine, type HeaderField } from '../format/header-block.js'

export interface HttpMessage {
  data: Buffer
  /** What was changed relative to the record, one sentence each. */
  notes: string[]
}

/**
 * A header line: `text` as recorded is what is sent (the parsed field would lose the spacing),
 * the field and its lower-case name `key` are what the changes are decided on.
 */
interface Line extends HeaderField {
  text: string
  key: string
}

function line (text: string): Line {
  const f = parseHeaderLine(text)
  return { text, key: f.name.toLowerCase(), name: f.name, value: f.value }
}

/** The raw HTTP/1.1 request message for a record. */
export function toHttpMessage (r: DecodedRequest): HttpMessage {
  const notes: string[] = []
  let lines = headerLines(r.headers).map(line)
  const pseudo = lines.filter(l => l.key.startsWith(':'))
  if (pseudo.length > 0) {
    lines = lines.filter(l => !l.key.startsWith(':'))
    notes.push(`dropped ${pseudo.length} HTTP/2 pseudo-header line(s)`)
    const authority = pseudo.find(l => l.key === ':authority')
    if (authority !== undefined && !lines.some(l => l.key === 'host')) {
      lines.unshift(line(`Host: ${authority.value}`))
      notes.push('added Host from :authority')
    }
  }
  const body = Buffer.from(r.body.buffer, r.body.byteOffset, r.body.length)
  if (r.bodyTruncated) notes.push(`the body was truncated when recorded: ${body.length} of ${r.bodyLength} bytes are sent`)

  const te = lines.filter(l => l.key === 'transfer-encoding').map(l => l.value).join(',')
  const chunked = /(^|,)\s*chunked\s*$/i.test(te)
  let payload: Buffer
  if (chunked) {
    payload = body.length === 0
      ? Buffer.from('0\r\n\r\n', 'latin1')
      : Buffer.concat([Buffer.from(body.length.toString(16) + '\r\n', 'latin1'), body, Buffer.from('\r\n0\r\n\r\n', 'latin1')])
    notes.push('Transfer-Encoding: chunked kept; the stored body is sent as one chunk')
  } else {
    payload = body
    if (lines.some(l => l.key === 'content-length')) {
      const want = String(body.length)
      let changed = false
      lines = lines.map(l => {
        if (l.key !== 'content-length' || l.value === want) return l
        changed = true
        return line(`${l.name}: ${want}`)
      })
      if (changed) notes.push(`Content-Length set to the stored body's ${want} bytes`)
    } else if (body.length > 0) {
      lines.push(line(`Content-Length: ${body.length}`))
      notes.push(`added Content-Length: ${body.length}`)
    }
  }
  const head = `${r.method} ${r.uri} HTTP/1.1\r\n` + lines.map(l => l.text + '\r\n').join('') + '\r\n'
  return { data: Buffer.concat([Buffer.from(head, 'latin1'), payload]), notes }
}

/** `request_<id>.http`, the id reduced to letters, digits, `.`, `_` and `-` (at most 100). */
export function extractFileName (id: string, n = 1): string {
  let safe = id.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 100)
  if (safe === '' || /^\.+$/.test(safe)) safe = '_'
  return `request_${safe}${n > 1 ? `_${n}` : ''}.http`
}

export interface ExtractResult {
  file: string
  /** The archive the record came from. */
  source: string
  bytes: number
  notes: string[]
}

/**
 * Writes every record with id `id` under `paths` as a message file in `outDir` (created,
 * mode 0700), replacing a file of the same name. Several records with the same id get `_2`,
 * `_3`... in archive order. Returns what was written (empty: no match).
 */
export async function extractRecords (paths: readonly string[], id: string, outDir: string, opts: ReadOptions = {}): Promise<ExtractResult[]> {
  const files = await listArchiveFiles(paths, opts.sources)
  const out: ExtractResult[] = []
  let n = 0
  for (const source of files) {
    for await (const raw of readFileRecords(source, opts)) {
      const r = decodeRaw(raw)
      if (r.id !== id) continue
      const msg = toHttpMessage(r)
      if (out.length === 0) await mkdir(outDir, { recursive: true, mode: 0o700 })
      const file = path.join(outDir, extractFileName(id, ++n))
      await writeFile(file, msg.data, { mode: 0o600 })
      out.push({ file, source, bytes: msg.data.length, notes: msg.notes })
    }
  }
  return out
}
