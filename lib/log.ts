// Logging without flooding: a failing disk must not turn every request into a log line.

/** The subset of a pino logger (Fastify's `app.log`) the library uses. */
export interface Logger {
  info (obj: object, msg?: string): void
  warn (obj: object, msg?: string): void
  error (obj: object, msg?: string): void
}

const noop = (): void => {}
export const silentLogger: Logger = { info: noop, warn: noop, error: noop }

/** Logs each kind of problem at most once per interval, with the count of what was suppressed. */
export class RateLimitedLog {
  readonly #last = new Map<string, { at: number, suppressed: number }>()

  constructor (readonly logger: Logger, private readonly intervalMs: number) {}

  #allow (kind: string): number | null {
    const now = Date.now()
    const s = this.#last.get(kind)
    if (s !== undefined && now - s.at < this.intervalMs) {
      s.suppressed++
      return null
    }
    const suppressed = s?.suppressed ?? 0
    this.#last.set(kind, { at: now, suppressed: 0 })
    return suppressed
  }

  warn (kind: string, msg: string): void {
    const suppressed = this.#allow(kind)
    if (suppressed !== null) this.logger.warn({ kind, suppressed }, msg)
  }

  error (kind: string, msg: string, err?: Error): void {
    const suppressed = this.#allow(kind)
    if (suppressed !== null) this.logger.error({ kind, suppressed, err }, msg)
  }
}
