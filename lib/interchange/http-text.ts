// HTTP text as the interchange formats show it: URLs, query strings, cookies, bodies as text or
// base64, and ISO 8601 times. Conversions only; no format of their own.
import type { HeaderField } from '../format/header-block.js'
import type { HarCookie, HarNameValue } from './har-types.js'

const ABSOLUTE_URL = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/([^/?#]*)/

/** True for a URL with a scheme and an authority (`http://host/...`), as an absolute-form target. */
export function isAbsoluteUrl (url: string): boolean {
  return ABSOLUTE_URL.test(url)
}

/** Path and query of a URL, taken as text (no normalisation, no re-encoding); the fragment is dropped. */
export function uriFromUrl (url: string): string {
  const m = ABSOLUTE_URL.exec(url)
  let rest = m ? url.slice(m[0].length) : url
  const hash = rest.indexOf('#')
  if (hash >= 0) rest = rest.slice(0, hash)
  if (m && !rest.startsWith('/')) rest = '/' + rest
  return rest
}

/** Host (and port) of an absolute URL, without user info; undefined for a relative one. */
export function hostFromUrl (url: string): string | undefined {
  const m = ABSOLUTE_URL.exec(url)
  if (!m) return undefined
  const at = m[1].lastIndexOf('@')
  return at >= 0 ? m[1].slice(at + 1) : m[1]
}

function decodeQueryPart (s: string): string {
  const plus = s.replace(/\+/g, ' ')
  try {
    return decodeURIComponent(plus)
  } catch {
    return plus
  }
}

/** `name=value` pairs of the query part of a request target, decoded for display. */
export function parseQueryString (uri: string): HarNameValue[] {
  const q = uri.indexOf('?')
  if (q < 0) return []
  let query = uri.slice(q + 1)
  const hash = query.indexOf('#')
  if (hash >= 0) query = query.slice(0, hash)
  const out: HarNameValue[] = []
  for (const part of query.split('&')) {
    if (part === '') continue
    const eq = part.indexOf('=')
    out.push(eq < 0
      ? { name: decodeQueryPart(part), value: '' }
      : { name: decodeQueryPart(part.slice(0, eq)), value: decodeQueryPart(part.slice(eq + 1)) })
  }
  return out
}

/** Cookies of every `Cookie` header, in order. */
export function parseCookies (headers: readonly HeaderField[]): HarCookie[] {
  const out: HarCookie[] = []
  for (const h of headers) {
    if (h.name.toLowerCase() !== 'cookie') continue
    for (const piece of h.value.split(';')) {
      const p = piece.trim()
      if (p === '') continue
      const eq = p.indexOf('=')
      out.push(eq < 0 ? { name: p, value: '' } : { name: p.slice(0, eq).trim(), value: p.slice(eq + 1).trim() })
    }
  }
  return out
}

const utf8Strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/

/**
 * The body as text when it is valid UTF-8 without control characters (tab, CR, LF allowed);
 * a byte-order mark is kept, so the text encodes back to the same bytes.
 */
export function bodyText (body: Uint8Array): string | null {
  let text
  try {
    text = utf8Strict.decode(body)
  } catch {
    return null
  }
  return CONTROL.test(text) ? null : text
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/

/** Decodes strict base64 (no line breaks, padded); null when it is not. */
export function decodeBase64 (s: string): Buffer | null {
  if (s.length % 4 !== 0 || !BASE64.test(s)) return null
  return Buffer.from(s, 'base64')
}

/**
 * ISO 8601 date-time to ns since the epoch, keeping up to 9 fraction digits; null when it
 * does not parse. Accepts `Z` or a `±hh:mm` offset.
 */
export function parseIsoNs (s: string): bigint | null {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d(?::\d\d)?)(?:[.,](\d+))?(Z|[+-]\d\d:?\d\d)?$/i.exec(s.trim())
  if (!m) return null
  const ms = Date.parse(m[1] + (m[3] ?? 'Z'))
  if (!Number.isFinite(ms)) return null
  const frac = BigInt((m[2] ?? '').slice(0, 9).padEnd(9, '0'))
  return BigInt(ms) * 1_000_000n + frac
}
