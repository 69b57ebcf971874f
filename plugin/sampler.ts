// Which requests are recorded: filters, sampling rate (random or consistent per client), and
// a per-second cap. Decided once per request in onRequest, before any body byte is kept.
import type { IncomingMessage } from 'node:http'
import type { ResolvedMatch, ResolvedOptions } from './options.js'

export type SkipReason = 'route' | 'filter' | 'sample' | 'rate'

function matches (m: ResolvedMatch, method: string, url: string, requireAll: boolean): boolean {
  const byMethod = m.methods === null ? null : m.methods.has(method)
  let byUrl: boolean | null = null
  if (m.prefixes.length > 0 || m.patterns.length > 0) {
    byUrl = false
    for (const p of m.prefixes) if (url.startsWith(p)) { byUrl = true; break }
    if (!byUrl) for (const re of m.patterns) if (re.test(url)) { byUrl = true; break }
  }
  if (requireAll) return byMethod !== false && byUrl !== false
  return byMethod === true || byUrl === true
}

/** FNV-1a, 32 bits: stable across processes and restarts, so a client's fate never changes. */
export function fnv1a (s: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}

export class Sampler {
  #windowStart = 0
  #inWindow = 0

  constructor (private readonly o: ResolvedOptions) {}

  /** Returns null when the request is to be recorded, else why not. */
  decide (raw: IncomingMessage, routeSample: number | undefined): SkipReason | null {
    const o = this.o
    const method = raw.method ?? ''
    const url = raw.url ?? ''
    if (o.include !== null && !matches(o.include, method, url, true)) return 'filter'
    if (o.exclude !== null && matches(o.exclude, method, url, false)) return 'filter'
    const rate = routeSample ?? o.sample
    if (rate < 1) {
      if (rate <= 0) return 'sample'
      let key: string | undefined
      if (o.sampleBy === 'ip') key = raw.socket?.remoteAddress
      else if (o.sampleBy !== null) {
        const v = raw.headers[o.sampleBy]
        key = Array.isArray(v) ? v[0] : v
      }
      const x = key === undefined ? Math.random() : fnv1a(key) / 0x100000000
      if (x >= rate) return 'sample'
    }
    if (o.maxPerSecond > 0) {
      const now = Date.now()
      if (now - this.#windowStart >= 1000) {
        this.#windowStart = now
        this.#inWindow = 0
      }
      if (this.#inWindow >= o.maxPerSecond) return 'rate'
      this.#inWindow++
    }
    return null
  }
}
