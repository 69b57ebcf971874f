// Figures as text: numbers, sizes, shares, summaries and markdown tables.
import type { Summary } from './statistics.js'

/** Groups digits by thousands with commas: 1234567 -> "1,234,567". */
export function formatInt (v: number): string {
  return Math.round(v).toLocaleString('en-US')
}

/** A number with about three significant digits, never in exponent form. */
export function format3 (v: number): string {
  if (!Number.isFinite(v)) return String(v)
  const a = Math.abs(v)
  if (a >= 100) return formatInt(v)
  if (a >= 10) return v.toFixed(1)
  if (a >= 1) return v.toFixed(2)
  return v.toFixed(3)
}

export function formatBytes (n: number): string {
  if (n >= 1 << 30) return `${(n / (1 << 30)).toFixed(2)} GiB`
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(1)} MiB`
  if (n >= 1 << 10) return `${(n / (1 << 10)).toFixed(1)} KiB`
  return `${n} B`
}

export const mib = (b: number): string => (b / (1 << 20)).toFixed(1)
export const pct = (f: number): string => Number.isFinite(f) ? `${Math.round(f * 100)} %` : 'n/a'

/** "median" and "min–max" cells for a summary, with one number format. */
export function summaryCells (s: Summary, fmt: (v: number) => string = format3): [string, string] {
  return [fmt(s.median), `${fmt(s.min)}–${fmt(s.max)}`]
}

/** The min–max cell of a per-round ratio, with the number of rounds it covers. */
export function perRoundCell (s: Summary | null): string {
  return s === null ? 'n/a' : `${s.min.toFixed(3)}–${s.max.toFixed(3)} (${s.n} round${s.n === 1 ? '' : 's'})`
}

/** The "met" cell of a goal: yes, **no**, or empty without a goal. */
export function metCell (met: boolean | null): string {
  return met === null ? '' : met ? 'yes' : '**no**'
}

/** A GitHub-flavoured markdown table. `align` holds 'l' or 'r' per column (default left). */
export function markdownTable (header: readonly string[], rows: ReadonlyArray<readonly string[]>, align?: ReadonlyArray<'l' | 'r'>): string {
  const cell = (s: string): string => s.replace(/\|/g, '\\|')
  const sep = header.map((_, i) => (align?.[i] === 'r' ? '---:' : '---'))
  const lines = [header, sep, ...rows].map((r, i) => `| ${(i === 1 ? r : r.map(cell)).join(' | ')} |`)
  return lines.join('\n') + '\n'
}
