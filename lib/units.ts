// Sizes and durations as people write them in flags, options and environment variables: the
// one place their syntax is defined. Callers turn a null into their own error naming the flag.

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, kb: 1024, kib: 1024, m: 1 << 20, mb: 1 << 20, mib: 1 << 20, g: 1 << 30, gb: 1 << 30, gib: 1 << 30 }
const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }

/** A byte size such as `1048576`, `64k`, `1MiB` or `2G` (binary units), or null. */
export function parseSize (value: unknown): number | null {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(String(value).trim())
  const unit = m ? SIZE_UNITS[m[2].toLowerCase()] : undefined
  const n = m && unit !== undefined ? Math.round(Number(m[1]) * unit) : NaN
  return Number.isSafeInteger(n) ? n : null
}

/** A duration in ms such as `500ms`, `10s`, `5m`, `1h` or a bare number of milliseconds, or null. */
export function parseDuration (value: unknown): number | null {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/i.exec(String(value).trim())
  const n = m ? Math.round(Number(m[1]) * DURATION_UNITS[(m[2] ?? 'ms').toLowerCase()]) : NaN
  return Number.isFinite(n) ? n : null
}
