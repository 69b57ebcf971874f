// The HAR 1.2 document (http://www.softwareishard.com/blog/har-12-spec/) as this package reads
// and writes it, with the custom `_` fields that carry what HAR has no place for.
import { readFileSync } from 'node:fs'
import type { HeaderField } from '../format/header-block.js'

export interface HarNameValue extends HeaderField {
  comment?: string
}

export interface HarCookie {
  name: string
  value: string
  path?: string
  domain?: string
  expires?: string
  httpOnly?: boolean
  secure?: boolean
  comment?: string
}

export interface HarPostData {
  mimeType: string
  text?: string
  /** Not in HAR 1.2's postData, but a common extension (Chrome writes it): `base64` for binary bodies. */
  encoding?: string
  params?: Array<{ name: string, value?: string, fileName?: string, contentType?: string, comment?: string }>
  comment?: string
}

export interface HarRequest {
  method: string
  url: string
  httpVersion: string
  cookies: HarCookie[]
  headers: HarNameValue[]
  queryString: HarNameValue[]
  postData?: HarPostData
  headersSize: number
  bodySize: number
  comment?: string
  /** The recorded request target, only when `url` cannot give it back (absolute-form, `*`, no Host...). */
  _uri?: string
  /** The recorded header block verbatim, only when `headers` cannot give it back exactly. */
  _headersRaw?: string
}

export interface HarResponse {
  status: number
  statusText: string
  httpVersion: string
  cookies: HarCookie[]
  headers: HarNameValue[]
  content: { size: number, mimeType: string, compression?: number, text?: string, encoding?: string, comment?: string }
  redirectURL: string
  headersSize: number
  bodySize: number
  comment?: string
}

export interface HarTimings {
  blocked?: number
  dns?: number
  connect?: number
  send: number
  wait: number
  receive: number
  ssl?: number
  comment?: string
}

export interface HarEntry {
  startedDateTime: string
  time: number
  request: HarRequest
  response: HarResponse
  cache: Record<string, unknown>
  timings: HarTimings
  /** Record id. */
  _id?: string
  /** Client address and port as the server saw them. */
  _remoteAddress?: string
  _remotePort?: number
  /** True when the archive holds only the first bytes of the body. */
  _bodyTruncated?: boolean
  /** Bytes of body received in all (the stored body may be shorter when truncated). */
  _bodyLength?: number
  /** Arrival time in ns since the epoch, decimal ("0" when the record has none). */
  _timeNs?: string
  /** Only when the record has no HTTP version (blackhole's records): "" (`httpVersion` then says HTTP/1.1). */
  _httpVersion?: string
}

export interface HarCreator {
  name: string
  version: string
  comment?: string
}

export interface Har {
  log: {
    version: string
    creator: HarCreator
    browser?: HarCreator
    pages?: unknown[]
    entries: HarEntry[]
    comment?: string
  }
}

/** This package's name and version, the HAR `creator`. */
export const CREATOR: HarCreator = (() => {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { name?: string, version?: string }
    return { name: pkg.name ?? 'fastify-blackhole', version: pkg.version ?? '0.0.0' }
  } catch {
    return { name: 'fastify-blackhole', version: '0.0.0' }
  }
})()
