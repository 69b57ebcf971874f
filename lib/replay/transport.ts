// Where replayed requests go: undici's pool of keep-alive sockets, a Fastify instance through
// inject (deterministic tests, no sockets), or a dry run handing each request to a callback.
// The engine sends through the one interface and never asks which it has.
import { Pool } from 'undici'
import { ReplayError, type CodedError } from '../errors.js'
import type { InjectTarget, ResolvedReplayOptions } from './options.js'
import { invalidReason, type OutgoingRequest } from './request.js'

export interface Transport {
  /**
   * Sends a request. Resolves with the answer's status, or null when nothing answers (a dry
   * run); rejects with the transport's error, or a ReplayError for a request that cannot be sent.
   */
  send (req: OutgoingRequest): Promise<number | null>
  /** Releases the connections. */
  close (): Promise<void>
}

/** The transport the options ask for: dryRun, else inject, else the target over sockets. */
export function openTransport (o: ResolvedReplayOptions): Transport {
  if (o.dryRun !== undefined) return dryRunTransport(o.dryRun)
  if (o.inject !== undefined) return injectTransport(o.inject)
  return poolTransport(o)
}

function dryRunTransport (show: (req: OutgoingRequest) => void): Transport {
  return {
    // Not async: a callback that throws ends the replay instead of counting as a failed send.
    send (req) {
      show(req)
      return Promise.resolve(null)
    },
    close: () => Promise.resolve()
  }
}

function injectTransport (target: InjectTarget): Transport {
  return {
    async send (req) {
      const headers: Record<string, string | string[]> = {}
      for (let i = 0; i < req.headers.length; i += 2) {
        const k = req.headers[i].toLowerCase()
        const prev = headers[k]
        headers[k] = prev === undefined ? req.headers[i + 1] : ([] as string[]).concat(prev, req.headers[i + 1])
      }
      const res = await target.inject({ method: req.method, url: req.path, headers, ...(req.body ? { payload: req.body } : {}) })
      return res.statusCode
    },
    close: () => Promise.resolve()
  }
}

function poolTransport (o: Pick<ResolvedReplayOptions, 'target' | 'connections' | 'timeoutMs' | 'insecure'>): Transport {
  const pool = new Pool(o.target.origin, {
    connections: o.connections,
    pipelining: 1,
    headersTimeout: o.timeoutMs,
    bodyTimeout: o.timeoutMs,
    connect: { rejectUnauthorized: !o.insecure, timeout: Math.min(o.timeoutMs, 10_000) }
  })
  // Shaped requests are cached by record (loops, multiply), and so is this check.
  const refusals = new WeakMap<OutgoingRequest, CodedError | null>()
  return {
    send (req) {
      let refusal = refusals.get(req)
      if (refusal === undefined) {
        const reason = invalidReason(req)
        refusals.set(req, refusal = reason === null ? null : new ReplayError(reason))
      }
      return refusal === null ? dispatch(pool, req) : Promise.reject(refusal)
    },
    close: () => pool.destroy().catch(() => {})
  }
}

/**
 * Sends one request with Pool.dispatch and resolves with the status once the response body has
 * been read and discarded: no response stream per request (Pool.request makes one).
 */
function dispatch (pool: Pool, req: OutgoingRequest): Promise<number> {
  return new Promise((resolve, reject) => {
    let status = 0
    // undici 7's Pool still validates the classic handler interface (onConnect...): use it.
    pool.dispatch({ path: req.path, method: req.method, headers: req.headers, body: req.body }, {
      onConnect () {},
      onHeaders (statusCode) {
        status = statusCode
        return true
      },
      onData () { return true },
      onComplete () { resolve(status) },
      onError (err) { reject(err) }
    })
  })
}
