// Which recorded requests a replay sends.
import type { DecodedRequest } from '../format/record.js'
import { parseHeaderBlock } from '../format/header-block.js'

export interface ReplayFilter {
  /** Methods (any case). */
  methods?: string[]
  /** Tested against the recorded request target (path and query). */
  path?: RegExp
  /** Every [header name, pattern] must match one of the request's values of that header. */
  headers?: Array<[string, RegExp]>
  /** Recorded arrival time bounds, ns since the epoch (inclusive since, exclusive until). */
  sinceNs?: bigint
  untilNs?: bigint
  ids?: string[]
  /** Fraction of the matching records kept, 0 to 1 (seeded, so runs are repeatable). */
  sample?: number
  seed?: number
}

/** mulberry32: a small seeded PRNG, so `--sample` picks the same records on every run. */
export function prng (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export class RecordFilter {
  readonly #methods: Set<string> | null
  readonly #ids: Set<string> | null
  #rand: () => number

  constructor (private readonly f: ReplayFilter = {}) {
    this.#methods = f.methods?.length ? new Set(f.methods.map(m => m.toUpperCase())) : null
    this.#ids = f.ids?.length ? new Set(f.ids) : null
    this.#rand = prng(f.seed ?? 1)
  }

  /** Restarts the sampling sequence (each loop of a replay picks the same records). */
  reset (): void {
    this.#rand = prng(this.f.seed ?? 1)
  }

  match (r: DecodedRequest): boolean {
    const f = this.f
    if (this.#methods !== null && !this.#methods.has(r.method.toUpperCase())) return false
    if (this.#ids !== null && !this.#ids.has(r.id)) return false
    if (f.sinceNs !== undefined && r.timeNs < f.sinceNs) return false
    if (f.untilNs !== undefined && r.timeNs >= f.untilNs) return false
    if (f.path !== undefined && !f.path.test(r.uri)) return false
    if (f.headers !== undefined && f.headers.length > 0) {
      const list = parseHeaderBlock(r.headers)
      for (const [name, re] of f.headers) {
        const lower = name.toLowerCase()
        if (!list.some(h => h.name.toLowerCase() === lower && re.test(h.value))) return false
      }
    }
    if (f.sample !== undefined && f.sample < 1 && this.#rand() >= f.sample) return false
    return true
  }
}
