// Medians, spreads and ratios of repeated measurements.

/** Median, minimum and maximum of a set of measurements. */
export interface Summary {
  median: number
  min: number
  max: number
  n: number
}

export function median (values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('median of no values')
  const s = [...values].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2
}

export function summarize (values: readonly number[]): Summary {
  if (values.length === 0) throw new RangeError('summary of no values')
  return { median: median(values), min: Math.min(...values), max: Math.max(...values), n: values.length }
}

/** Per-round rates (units per second) from durations. */
export function rates (units: number, times: readonly number[]): number[] {
  return times.map(t => units / t)
}

/**
 * The ratio f(a) / f(b) of the two measurements of every round that has both, summarized; null
 * when no round has both. Runs next to each other in a round share the machine's speed of the
 * moment, which drifts over minutes.
 */
export function perRoundRatio<M extends { round: number }> (num: readonly M[], den: readonly M[], f: (m: M) => number): Summary | null {
  const v = num.map(a => {
    const b = den.find(m => m.round === a.round)
    return b !== undefined ? f(a) / f(b) : NaN
  }).filter(Number.isFinite)
  return v.length > 0 ? summarize(v) : null
}

/** A ratio between two servers or clients and the goal it is held to (`met` null: no goal). */
export interface Ratio { name: string, value: number, perRound: Summary | null, goal: string, met: boolean | null }
