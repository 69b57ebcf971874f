// Human-readable and JSON views of records, shared by `dump`, `export --jsonl` and the docs.
import { headerLines } from '../format/header-block.js'
import type { DecodedRequest } from '../format/record.js'
import { bodyText } from './http-text.js'

/** The JSON shape of one record (`dump --json`, `export --jsonl`). */
export interface RecordJson {
  id: string
  method: string
  uri: string
  /** Header block, one char per byte as stored (latin1). */
  headers: string
  /** Body bytes, base64. */
  body: string
  bodyLength: number
  bodyTruncated: boolean
  /** Arrival time in ns since the epoch, as a decimal string ("0" when not recorded). */
  timeNs: string
  /** Arrival time as ISO 8601 with nanoseconds, or null when not recorded. */
  time: string | null
  remoteAddr: string
  remotePort: number
  httpVersion: string
  responseStatus: number
  responseTimeNs: string
  file?: string
}

export function isoTimeNs (ns: bigint): string | null {
  if (ns === 0n) return null
  const ms = ns / 1_000_000n
  const iso = new Date(Number(ms)).toISOString() // ...sss Z
  const frac = (ns % 1_000_000_000n).toString().padStart(9, '0')
  return iso.slice(0, 19) + '.' + frac + 'Z'
}

export function toJson (r: DecodedRequest, file?: string): RecordJson {
  const body = Buffer.from(r.body.buffer, r.body.byteOffset, r.body.length)
  const out: RecordJson = {
    id: r.id,
    method: r.method,
    uri: r.uri,
    headers: r.headers,
    body: body.toString('base64'),
    bodyLength: r.bodyLength,
    bodyTruncated: r.bodyTruncated,
    timeNs: r.timeNs.toString(),
    time: isoTimeNs(r.timeNs),
    remoteAddr: r.remoteAddr,
    remotePort: r.remotePort,
    httpVersion: r.httpVersion,
    responseStatus: r.responseStatus,
    responseTimeNs: r.responseTimeNs.toString()
  }
  if (file !== undefined) out.file = file
  return out
}

// What JSON.stringify would escape in a string: quotes, backslashes, control characters, lone
// surrogates. Most fields hold none of them and can be quoted as they are.
// eslint-disable-next-line no-control-regex
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/

function quote (s: string): string {
  return NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : '"' + s + '"'
}

/**
 * `JSON.stringify(toJson(r, file))`, character for character, without building the object:
 * dump --json spent half its time in JSON.stringify.
 */
export function toJsonText (r: DecodedRequest, file?: string): string {
  const body = Buffer.from(r.body.buffer, r.body.byteOffset, r.body.length)
  const time = isoTimeNs(r.timeNs)
  return '{"id":' + quote(r.id) +
    ',"method":' + quote(r.method) +
    ',"uri":' + quote(r.uri) +
    ',"headers":' + quote(r.headers) +
    ',"body":"' + body.toString('base64') +
    '","bodyLength":' + r.bodyLength +
    ',"bodyTruncated":' + r.bodyTruncated +
    ',"timeNs":"' + r.timeNs.toString() +
    '","time":' + (time === null ? 'null' : '"' + time + '"') +
    ',"remoteAddr":' + quote(r.remoteAddr) +
    ',"remotePort":' + r.remotePort +
    ',"httpVersion":' + quote(r.httpVersion) +
    ',"responseStatus":' + r.responseStatus +
    ',"responseTimeNs":"' + r.responseTimeNs.toString() + '"' +
    (file === undefined ? '' : ',"file":' + quote(file)) + '}'
}

/** The body as text for people: a leading byte-order mark, invisible, is left out (bodyText keeps it for exports). */
function printableText (body: Uint8Array): string | null {
  const text = bodyText(body)
  return text !== null && text.charCodeAt(0) === 0xFEFF ? text.slice(1) : text
}

export function hexPreview (body: Uint8Array, max = 64): string {
  const hex = Buffer.from(body.buffer, body.byteOffset, Math.min(body.length, max)).toString('hex').replace(/(..)(?!$)/g, '$1 ')
  return body.length > max ? hex + ' ...' : hex
}

/** Multi-line text view of a record: a summary line, the request line, headers, body. */
export function formatText (r: DecodedRequest, index: number, maxBody = 4096): string {
  const meta = [`#${index}`, `id=${r.id || '-'}`]
  const t = isoTimeNs(r.timeNs)
  if (t) meta.push(t)
  if (r.remoteAddr) meta.push(`from ${r.remoteAddr}${r.remotePort ? ':' + r.remotePort : ''}`)
  if (r.httpVersion) meta.push(`HTTP/${r.httpVersion}`)
  if (r.responseStatus) meta.push(`-> ${r.responseStatus}`)
  if (r.responseTimeNs) meta.push(`in ${(Number(r.responseTimeNs) / 1e6).toFixed(3)} ms`)
  const lines = [meta.join('  '), `${r.method} ${r.uri}`]
  const headers = headerLines(r.headers)
  if (headers.length > 0) lines.push(headers.join('\n'))
  lines.push('')
  const truncated = r.bodyTruncated ? ` (truncated: ${r.body.length} of ${r.bodyLength} bytes stored)` : ''
  if (r.body.length === 0) {
    lines.push(`[no body]${truncated}`)
  } else {
    const text = printableText(r.body)
    if (text === null) {
      lines.push(`[binary body, ${r.body.length} bytes${truncated}] ${hexPreview(r.body)}`)
    } else if (maxBody > 0 && text.length > maxBody) {
      lines.push(text.slice(0, maxBody), `[... ${r.body.length} bytes in all${truncated}]`)
    } else {
      lines.push(text)
      if (truncated) lines.push(`[${truncated.trim()}]`)
    }
  }
  return lines.join('\n') + '\n'
}
