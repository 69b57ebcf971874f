// Archive records ⇄ HAR 1.2 entries (http://www.softwareishard.com/blog/har-12-spec/), and a
// streaming HAR writer that never holds more than one entry in memory.
//
// Strings that come from the request's bytes (method, URL, header names and values, custom
// `_uri`/`_headersRaw`) are written one character per byte (latin1), as `dump --json` does, so
// an export followed by an import gives back the same bytes. An import encodes a string whose
// characters are all U+0000–U+00FF back as latin1, and any other string (for example a header a
// browser saved as Unicode) as UTF-8: the rule of lib/format/record.ts.
import { stat } from 'node:fs/promises'
import { STATUS_CODES } from 'node:http'
import { decodeRaw, listArchiveFiles, readFileRecords, type ReadOptions } from '../archive/reader.js'
import type { DecodedRequest, RequestRecord } from '../format/record.js'
import { HarEntryError } from '../errors.js'
import { buildHeaderBlock, headerValue, parseHeaderBlock } from '../format/header-block.js'
import type { TextSink } from './atomic-file.js'
import { CREATOR, type HarCreator, type HarEntry, type HarNameValue, type HarRequest, type HarResponse } from './har-types.js'
import { bodyText, decodeBase64, hostFromUrl, isAbsoluteUrl, parseCookies, parseIsoNs, parseQueryString, uriFromUrl } from './http-text.js'

// ---------------------------------------------------------------------------------------------
// Record → HAR entry

export interface ToHarOptions {
  /** `startedDateTime` (ms since the epoch) for a record without a time. Default 0 (1970-01-01). */
  fallbackTimeMs?: number
}

function httpVersionOf (v: string): string {
  return v === '' ? 'HTTP/1.1' : `HTTP/${v}`
}

/** One record as a HAR 1.2 entry (see docs/interchange.md for every field). */
export function toHarEntry (r: DecodedRequest, opts: ToHarOptions = {}): HarEntry {
  const headers = parseHeaderBlock(r.headers)
  const host = headerValue(headers, 'host') ?? headerValue(headers, ':authority')
  let url: string
  if (isAbsoluteUrl(r.uri)) url = r.uri
  else url = `http://${host ?? 'localhost'}${r.uri.startsWith('/') ? r.uri : '/'}`
  const httpVersion = httpVersionOf(r.httpVersion)
  const body = Buffer.from(r.body.buffer, r.body.byteOffset, r.body.length)

  const request: HarRequest = {
    method: r.method,
    url,
    httpVersion,
    cookies: parseCookies(headers),
    headers,
    queryString: parseQueryString(r.uri),
    headersSize: `${r.method} ${r.uri} ${httpVersion}\r\n`.length + (r.headers === '' ? 2 : r.headers.length),
    bodySize: r.bodyLength
  }
  if (body.length > 0) {
    const mimeType = headerValue(headers, 'content-type') ?? ''
    const text = bodyText(body)
    request.postData = text === null
      ? { mimeType, text: body.toString('base64'), encoding: 'base64' }
      : { mimeType, text }
  }
  // Whatever the import would not get back from url and headers is carried verbatim.
  if (uriFromUrl(url) !== r.uri) request._uri = r.uri
  if (buildHeaderBlock(importHeaders(headers, url)) !== r.headers) request._headersRaw = r.headers

  const status = r.responseStatus
  const time = r.responseTimeNs === 0n ? 0 : Number(r.responseTimeNs) / 1e6
  const response: HarResponse = status === 0
    ? {
        status: 0,
        statusText: '',
        httpVersion: '',
        cookies: [],
        headers: [],
        content: { size: 0, mimeType: 'x-unknown' },
        redirectURL: '',
        headersSize: -1,
        bodySize: -1,
        comment: 'no response recorded (a sink answers every request; see docs/interchange.md)'
      }
    : {
        status,
        statusText: STATUS_CODES[status] ?? '',
        httpVersion,
        cookies: [],
        headers: [],
        content: { size: 0, mimeType: 'x-unknown', comment: 'response body not recorded' },
        redirectURL: '',
        headersSize: -1,
        bodySize: -1,
        comment: 'status recorded; headers and body are not'
      }
  const startMs = r.timeNs === 0n ? (opts.fallbackTimeMs ?? 0) : Number(r.timeNs / 1_000_000n)
  return {
    startedDateTime: new Date(startMs).toISOString(),
    time,
    request,
    response,
    cache: {},
    timings: { blocked: -1, dns: -1, connect: -1, ssl: -1, send: 0, wait: time, receive: 0 },
    _id: r.id,
    _remoteAddress: r.remoteAddr,
    _remotePort: r.remotePort,
    _bodyTruncated: r.bodyTruncated,
    _bodyLength: r.bodyLength,
    _timeNs: r.timeNs.toString(),
    ...(r.httpVersion === '' ? { _httpVersion: '' } : {})
  }
}

// ---------------------------------------------------------------------------------------------
// HAR entry → record

/**
 * The headers an import records for a HAR request: pseudo-headers (`:authority`, `:method`...,
 * which browsers save for HTTP/2) are dropped, and a `Host` header is added where the first
 * pseudo-header was (or first) when there is none, from `:authority` or the URL.
 */
export function importHeaders (headers: readonly HarNameValue[], url: string): HarNameValue[] {
  const out: HarNameValue[] = []
  let pseudoAt = -1
  let authority: string | undefined
  let hasHost = false
  for (const h of headers) {
    if (h.name.startsWith(':')) {
      if (pseudoAt < 0) pseudoAt = out.length
      if (h.name.toLowerCase() === ':authority' && authority === undefined) authority = h.value
      continue
    }
    if (h.name.toLowerCase() === 'host') hasHost = true
    out.push({ name: h.name, value: h.value })
  }
  if (!hasHost) {
    const host = authority ?? hostFromUrl(url)
    if (host !== undefined && host !== '') out.splice(Math.max(pseudoAt, 0), 0, { name: 'Host', value: host })
  }
  return out
}

function isObject (v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function httpVersionFrom (v: string): string {
  if (/^h2$/i.test(v)) return '2.0'
  if (/^h3$/i.test(v)) return '3.0'
  return v.replace(/^HTTP\//i, '')
}

/**
 * One HAR entry as a record. `index` names the entry in errors. Recognises this package's
 * custom fields (`_id`, `_uri`, `_headersRaw`, `_timeNs`, ...) and plain browser HARs alike.
 */
export function fromHarEntry (entry: unknown, index: number): RequestRecord {
  const fail = (detail: string): never => { throw new HarEntryError(index, detail) }
  if (!isObject(entry)) fail('is not an object')
  const e = entry as Record<string, unknown>
  const req = e.request
  if (!isObject(req)) return fail('request is missing or not an object')
  if (typeof req.method !== 'string' || req.method === '') fail('request.method is missing or not a non-empty string')
  if (typeof req.url !== 'string') fail('request.url is missing or not a string')
  const url = req.url as string
  if (!Array.isArray(req.headers)) fail('request.headers is missing or not an array')
  const harHeaders: HarNameValue[] = []
  for (const [i, h] of (req.headers as unknown[]).entries()) {
    if (!isObject(h) || typeof h.name !== 'string' || typeof h.value !== 'string') {
      fail(`request.headers[${i}] must be an object with string "name" and "value"`)
    }
    const hv = h as { name: string, value: string }
    if (/[\r\n]/.test(hv.name) || /[\r\n]/.test(hv.value)) fail(`request.headers[${i}] holds a line break`)
    harHeaders.push({ name: hv.name, value: hv.value })
  }

  let uri: string
  if (req._uri !== undefined) {
    if (typeof req._uri !== 'string') fail('request._uri is not a string')
    uri = req._uri as string
  } else {
    uri = uriFromUrl(url)
    if (uri === '') fail(`request.url '${url.slice(0, 100)}' has no path`)
  }
  let headers: string
  if (req._headersRaw !== undefined) {
    if (typeof req._headersRaw !== 'string') fail('request._headersRaw is not a string')
    headers = req._headersRaw as string
  } else {
    headers = buildHeaderBlock(importHeaders(harHeaders, url))
  }

  let body: Buffer | undefined
  const pd = req.postData
  if (pd !== undefined && pd !== null) {
    if (!isObject(pd)) fail('request.postData is not an object')
    const p = pd as Record<string, unknown>
    if (p.text !== undefined && typeof p.text !== 'string') fail('request.postData.text is not a string')
    if (p.encoding !== undefined && p.encoding !== '' && typeof p.encoding !== 'string') fail('request.postData.encoding is not a string')
    const encoding = typeof p.encoding === 'string' ? p.encoding.toLowerCase() : ''
    if (typeof p.text === 'string') {
      if (encoding === 'base64') {
        body = decodeBase64(p.text) ?? fail('request.postData.text is not valid base64 (encoding is "base64")')
      } else if (encoding === '' || encoding === 'utf-8' || encoding === 'utf8') {
        body = Buffer.from(p.text, 'utf8')
      } else {
        fail(`request.postData.encoding '${encoding}' is not supported (only base64)`)
      }
    } else if (Array.isArray(p.params) && typeof p.mimeType === 'string' && /^application\/x-www-form-urlencoded/i.test(p.mimeType)) {
      const parts: string[] = []
      for (const [i, q] of (p.params as unknown[]).entries()) {
        if (!isObject(q) || typeof q.name !== 'string') fail(`request.postData.params[${i}] has no string "name"`)
        const qq = q as { name: string, value?: unknown }
        parts.push(`${encodeURIComponent(qq.name)}=${encodeURIComponent(typeof qq.value === 'string' ? qq.value : '')}`)
      }
      body = Buffer.from(parts.join('&'))
    } else {
      body = Buffer.alloc(0)
    }
  }

  const record: RequestRecord = { method: req.method as string, uri, headers }
  if (body !== undefined) record.body = body
  if (e._httpVersion !== undefined) {
    if (typeof e._httpVersion !== 'string') fail('_httpVersion is not a string')
    if (e._httpVersion !== '') record.httpVersion = e._httpVersion as string
  } else if (typeof req.httpVersion === 'string' && req.httpVersion !== '') {
    record.httpVersion = httpVersionFrom(req.httpVersion)
  }

  if (e._id !== undefined) {
    if (typeof e._id !== 'string') fail('_id is not a string')
    record.id = e._id as string
  }
  if (e._remoteAddress !== undefined && e._remoteAddress !== '') {
    if (typeof e._remoteAddress !== 'string') fail('_remoteAddress is not a string')
    record.remoteAddr = e._remoteAddress as string
  }
  if (e._remotePort !== undefined) {
    const p = e._remotePort
    if (typeof p !== 'number' || !Number.isInteger(p) || p < 0 || p > 65535) fail('_remotePort is not an integer from 0 to 65535')
    record.remotePort = p as number
  }
  if (e._bodyTruncated !== undefined) {
    if (typeof e._bodyTruncated !== 'boolean') fail('_bodyTruncated is not a boolean')
    record.bodyTruncated = e._bodyTruncated as boolean
  }
  if (e._bodyLength !== undefined) {
    const n = e._bodyLength
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) fail('_bodyLength is not a non-negative integer')
    if ((n as number) < (body?.length ?? 0)) fail(`_bodyLength ${String(n)} is less than the body's ${body?.length ?? 0} bytes`)
    record.bodyLength = n as number
  }
  if (e._timeNs !== undefined) {
    if (typeof e._timeNs !== 'string' || !/^\d{1,20}$/.test(e._timeNs)) fail('_timeNs is not a decimal string')
    record.timeNs = BigInt(e._timeNs as string)
  } else if (e.startedDateTime !== undefined) {
    if (typeof e.startedDateTime !== 'string') fail('startedDateTime is not a string')
    record.timeNs = parseIsoNs(e.startedDateTime as string) ?? fail(`startedDateTime '${String(e.startedDateTime).slice(0, 40)}' is not an ISO 8601 date-time`)
  }

  const res = e.response
  if (res !== undefined && res !== null) {
    if (!isObject(res)) fail('response is not an object')
    const status = (res as Record<string, unknown>).status
    if (status !== undefined && (typeof status !== 'number' || !Number.isInteger(status) || status < 0 || status > 65535)) {
      fail('response.status is not an integer from 0 to 65535')
    }
    if (typeof status === 'number' && status > 0) {
      record.responseStatus = status
      if (e.time !== undefined && (typeof e.time !== 'number' || !Number.isFinite(e.time) || e.time < 0)) fail('time is not a non-negative number')
      if (typeof e.time === 'number' && e.time > 0) record.responseTimeNs = BigInt(Math.round(e.time * 1e6))
    }
  }
  return record
}

// ---------------------------------------------------------------------------------------------
// Streaming output

/**
 * Writes a HAR document one entry at a time: `begin()`, `entry()` per record, `end()`.
 * One entry per line inside `log.entries`, so memory is one entry whatever the count.
 */
export class HarStreamWriter {
  #count = 0

  constructor (private readonly sink: TextSink, private readonly creator: HarCreator = CREATOR, private readonly comment?: string) {}

  get count (): number {
    return this.#count
  }

  begin (): Promise<boolean> {
    const head = { version: '1.2', creator: this.creator, ...(this.comment ? { comment: this.comment } : {}) }
    const json = JSON.stringify(head)
    return this.sink.write(`{"log":${json.slice(0, -1)},"pages":[],"entries":[`)
  }

  entry (e: HarEntry): Promise<boolean> {
    const sep = this.#count++ === 0 ? '\n' : ',\n'
    return this.sink.write(sep + JSON.stringify(e))
  }

  end (): Promise<boolean> {
    return this.sink.write(this.#count === 0 ? ']}}\n' : '\n]}}\n')
  }
}

export interface ExportOptions extends ReadOptions {
  /** Only records with this id. */
  id?: string
}

/**
 * Streams every record under `paths` into `sink` as HAR 1.2. A record without a time gets its
 * file's modification time as `startedDateTime` (`_timeNs` stays "0"). Returns the entry count.
 */
export async function exportHar (paths: readonly string[], sink: TextSink, opts: ExportOptions = {}): Promise<number> {
  const files = await listArchiveFiles(paths, opts.sources)
  const w = new HarStreamWriter(sink)
  if (!await w.begin()) return 0
  for (const file of files) {
    let fallbackTimeMs: number | undefined
    for await (const raw of readFileRecords(file, opts)) {
      const r = decodeRaw(raw)
      if (opts.id !== undefined && r.id !== opts.id) continue
      if (r.timeNs === 0n && fallbackTimeMs === undefined) fallbackTimeMs = (await stat(file)).mtimeMs
      if (!await w.entry(toHarEntry(r, { fallbackTimeMs: Math.floor(fallbackTimeMs ?? 0) }))) return w.count
    }
  }
  await w.end()
  return w.count
}
