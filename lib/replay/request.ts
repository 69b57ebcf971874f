// Turning a recorded request into the request replay sends: target URL, header list with
// hop-by-hop headers dropped and rewrites applied, body as stored (already de-chunked).
import { parseHeaderBlock } from '../format/header-block.js'
import type { DecodedRequest } from '../format/record.js'

/** Headers the client recomputes or that belong to the recorded connection, not the request. */
const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade',
  'content-length', 'expect', 'http2-settings'
])

/** A header given in options as `Name: value` (setHeaders, `--set-header`), or null without a name and a colon. */
export function headerOption (s: string): [string, string] | null {
  const i = s.indexOf(':')
  return i <= 0 ? null : [s.slice(0, i).trim(), s.slice(i + 1).trim()]
}

export interface Rewrites {
  /** Headers set on every request, replacing recorded ones of the same name. Values may use {n}, {copy}, {loop}, {id}. */
  setHeaders?: Array<[string, string]>
  /** Header names removed (any case). */
  removeHeaders?: string[]
  /** Path rewrites applied in order to the path and query. */
  rewritePath?: Array<[RegExp, string]>
  /** Send the recorded Host header instead of the target's. */
  keepHost?: boolean
}

export interface OutgoingRequest {
  method: string
  /** Path and query on the target (base path included). */
  path: string
  /** Flat [name, value, name, value, ...] list: order and duplicates kept. */
  headers: string[]
  body: Buffer | null
  id: string
  recordedStatus: number
}

export interface TemplateVars { n: number, copy: number, loop: number }

function fill (template: string, v: TemplateVars, id: string): string {
  if (!template.includes('{')) return template
  return template.replace(/\{(n|copy|loop|id)\}/g, (_, k: string) => k === 'id' ? id : String(v[k as keyof TemplateVars]))
}

/** The path and query of a request target: origin-form as is, absolute-form reduced to its path. */
export function targetPath (uri: string): string {
  if (uri.startsWith('/')) return uri
  const scheme = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i.exec(uri)
  if (scheme !== null) {
    // Cut the scheme and authority off as text: URL parsing would normalise dot segments.
    const rest = uri.slice(scheme[0].length).replace(/#.*$/, '')
    return rest.startsWith('/') ? rest : '/' + rest
  }
  if (uri === '*') return '*'
  return '/' + uri
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
const BAD_VALUE = /[^\t\x20-\x7e\x80-\xff]/
const BAD_PATH = /[^\u0021-\u00ff]/

/**
 * Why undici would refuse this request, or null. Checked before sending: undici validates a
 * queued request only when it dispatches it, and a refusal there leaves its pool stuck.
 */
export function invalidReason (req: OutgoingRequest): string | null {
  if (!TOKEN.test(req.method)) return `method ${JSON.stringify(req.method)} is not a token`
  if (!req.path.startsWith('/')) return `request target ${JSON.stringify(req.path)} cannot be sent (origin-form only)`
  if (BAD_PATH.test(req.path)) return 'request target holds spaces or control characters'
  for (let i = 0; i < req.headers.length; i += 2) {
    if (!TOKEN.test(req.headers[i])) return `header name ${JSON.stringify(req.headers[i])} is not a token`
    if (BAD_VALUE.test(req.headers[i + 1])) return `header ${req.headers[i]} has a control character in its value`
  }
  return null
}

export class RequestShaper {
  readonly #base: string
  readonly #remove: Set<string>
  readonly #set: Array<[string, string]>
  readonly #setNames: Set<string>
  /** Shaped requests by record, when no set header uses a template (then shape depends on the record alone). */
  readonly #shaped: WeakMap<DecodedRequest, OutgoingRequest> | null

  constructor (target: URL, private readonly rw: Rewrites = {}) {
    this.#base = target.pathname.replace(/\/+$/, '')
    this.#set = rw.setHeaders ?? []
    // Loops and --multiply send the same record again: shape it once.
    this.#shaped = this.#set.some(([, v]) => v.includes('{')) ? null : new WeakMap()
    this.#setNames = new Set(this.#set.map(([n]) => n.toLowerCase()))
    this.#remove = new Set((rw.removeHeaders ?? []).map(h => h.toLowerCase()))
  }

  shape (r: DecodedRequest, vars: TemplateVars): OutgoingRequest {
    const known = this.#shaped?.get(r)
    if (known !== undefined) return known
    const req = this.#shape(r, vars)
    this.#shaped?.set(r, req)
    return req
  }

  #shape (r: DecodedRequest, vars: TemplateVars): OutgoingRequest {
    let path = targetPath(r.uri)
    for (const [from, to] of this.rw.rewritePath ?? []) path = path.replace(from, to)
    // `*` (OPTIONS *) stays as it is: the client cannot send it, and it is counted as invalid.
    if (this.#base !== '' && path !== '*') path = this.#base + path
    const headers: string[] = []
    let host = false
    for (const { name, value } of parseHeaderBlock(r.headers)) {
      // Not sent: HTTP/2 pseudo-headers (`:authority`...) and recorded lines whose name is not
      // a token (no field of a valid request), as well as the hop-by-hop, removed and set ones.
      if (!TOKEN.test(name)) continue
      const lower = name.toLowerCase()
      if (HOP_BY_HOP.has(lower) || this.#remove.has(lower) || this.#setNames.has(lower)) continue
      if (lower === 'host') {
        // One Host at most: the target's, or with keepHost the first one recorded.
        if (!this.rw.keepHost || host) continue
        host = true
      }
      headers.push(name, value)
    }
    for (const [name, value] of this.#set) headers.push(name, fill(value, vars, r.id))
    return {
      method: r.method,
      path,
      headers,
      body: r.body.length > 0 ? Buffer.from(r.body.buffer, r.body.byteOffset, r.body.length) : null,
      id: r.id,
      recordedStatus: r.responseStatus
    }
  }
}
