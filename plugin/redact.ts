// Redaction runs on the inputs of a record, before it is built, so secrets never reach a
// batch in memory or a file. Each function returns its input unchanged when nothing matched.
import { createHmac } from 'node:crypto'
import type { ResolvedRedact } from './options.js'

/**
 * The text that replaces a secret. Header values are byte strings (one char per byte, as Node
 * gives them) and are hashed as latin1; decoded values (query, JSON, form) are Unicode and hashed
 * as UTF-8, so two different secrets never hash alike.
 */
function replacement (r: ResolvedRedact, value: string, encoding: 'latin1' | 'utf8' = 'utf8'): string {
  if (r.mode === 'hash') return 'hmac:' + createHmac('sha256', r.hashKey as Buffer).update(value, encoding).digest('base64url')
  return r.mask
}

/**
 * Builds the header block (`Name: value\r\n` lines, then `\r\n`) from Node's rawHeaders
 * (original case, order and duplicates), redacting the configured headers.
 */
export function headerBlock (raw: string[], r: ResolvedRedact | null, originalUriHeader: string | null = null): string {
  let out = ''
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]
    let value = raw[i + 1]
    if (r !== null) {
      const lower = name.toLowerCase()
      if (r.headers.has(lower)) {
        if (r.mode === 'remove') continue
        value = replacement(r, value, 'latin1')
      } else if (r.query.size > 0 && (lower === 'referer' || lower === originalUriHeader)) {
        // URLs in headers carry the same query parameters as the request target.
        value = redactUri(value, r)
      }
    }
    out += name + ': ' + value + '\r\n'
  }
  return out + '\r\n'
}

function decodeName (s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '))
  } catch {
    return s
  }
}

/** Redacts `name=value` pairs of a query string or form body whose name is in `names`. */
export function redactPairs (query: string, names: Set<string>, r: ResolvedRedact): string {
  let changed = false
  const parts = query.split('&')
  const out: string[] = []
  for (const part of parts) {
    const eq = part.indexOf('=')
    const name = eq === -1 ? part : part.slice(0, eq)
    if (!names.has(decodeName(name))) {
      out.push(part)
      continue
    }
    changed = true
    if (r.mode === 'remove') continue
    const value = eq === -1 ? '' : part.slice(eq + 1)
    out.push(name + '=' + encodeURIComponent(replacement(r, decodeName(value))))
  }
  return changed ? out.join('&') : query
}

/** Redacts query parameters of a request target (`/path?a=1&b=2#f`). */
export function redactUri (uri: string, r: ResolvedRedact): string {
  if (r.query.size === 0) return uri
  const q = uri.indexOf('?')
  if (q === -1) return uri
  const hash = uri.indexOf('#', q)
  const end = hash === -1 ? uri.length : hash
  const query = redactPairs(uri.slice(q + 1, end), r.query, r)
  return uri.slice(0, q + 1) + query + uri.slice(end)
}

function redactJsonValue (v: unknown, r: ResolvedRedact): boolean {
  let changed = false
  if (Array.isArray(v)) {
    for (const item of v) if (redactJsonValue(item, r)) changed = true
  } else if (typeof v === 'object' && v !== null) {
    const o = v as Record<string, unknown>
    for (const k of Object.keys(o)) {
      if (r.jsonKeys.has(k)) {
        changed = true
        if (r.mode === 'remove') delete o[k]
        else o[k] = replacement(r, typeof o[k] === 'string' ? o[k] as string : JSON.stringify(o[k]))
      } else if (redactJsonValue(o[k], r)) {
        changed = true
      }
    }
  }
  return changed
}

export type BodyRedaction = { body: Buffer, withheld: false } | { body: null, withheld: true }

/**
 * Redacts `jsonKeys` in a JSON body (any depth) or a urlencoded form body. A body that
 * cannot be redacted safely (truncated, or not parseable) is withheld entirely.
 */
export function redactBody (body: Buffer, contentType: string | undefined, truncated: boolean, r: ResolvedRedact): BodyRedaction {
  if (r.jsonKeys.size === 0 || body.length === 0 || contentType === undefined) return { body, withheld: false }
  const isJson = /\bjson\b/i.test(contentType)
  const isForm = /^application\/x-www-form-urlencoded\b/i.test(contentType)
  if (!isJson && !isForm) return { body, withheld: false }
  if (truncated) return { body: null, withheld: true }
  if (isForm) {
    const text = body.toString('latin1')
    const red = redactPairs(text, r.jsonKeys, r)
    return { body: red === text ? body : Buffer.from(red, 'latin1'), withheld: false }
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(body.toString('utf8'))
  } catch {
    return { body: null, withheld: true }
  }
  return redactJsonValue(parsed, r) ? { body: Buffer.from(JSON.stringify(parsed)), withheld: false } : { body, withheld: false }
}
