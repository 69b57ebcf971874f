// Timing rounds of work inside this process (archive.ts): warm-up, full GC between rounds.
import v8 from 'node:v8'
import vm from 'node:vm'

/** Seconds since an arbitrary origin, with nanosecond resolution. */
function seconds (): number {
  return Number(process.hrtime.bigint()) / 1e9
}

/**
 * A full garbage collection, so one round's garbage is not collected on the next round's clock.
 * Uses --expose-gc when given, else enables it at run time; null when neither works.
 */
function garbageCollector (): (() => void) | null {
  const g = (globalThis as { gc?: () => void }).gc
  if (typeof g === 'function') return g
  try {
    v8.setFlagsFromString('--expose-gc')
    return vm.runInNewContext('gc') as () => void
  } catch {
    return null
  }
}

export interface RoundOptions {
  /** Measured rounds (at least 1). */
  rounds: number
  /** Unmeasured rounds run first. Default 1. */
  warmup?: number
  /** Called before every round, warm-up included, outside the timing (e.g. to make a fresh directory). */
  before?: () => void | Promise<void>
  /** Called after every round, outside the timing (e.g. to check and clean up). */
  after?: (round: number, warm: boolean) => void | Promise<void>
}

/** Runs `fn` for the warm-up and measured rounds; returns the measured durations in seconds. */
export async function timeRounds (opts: RoundOptions, fn: () => void | Promise<void>): Promise<number[]> {
  const warmup = opts.warmup ?? 1
  const gc = garbageCollector()
  const times: number[] = []
  for (let i = 0; i < warmup + opts.rounds; i++) {
    const warm = i < warmup
    await opts.before?.()
    gc?.()
    const t0 = seconds()
    await fn()
    const t = seconds() - t0
    if (!warm) times.push(t)
    await opts.after?.(i - warmup, warm)
  }
  return times
}
