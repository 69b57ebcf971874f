// The preset sink as a Fastify plugin: a catch-all route answering 200 to every method, path
// and content type, recording everything through the plugin unless told otherwise, plus the
// admin routes under a reserved prefix. Started by `blackhole serve` (server.ts) or by
// fastify-cli (`fastify start dist/preset/app.js`).
import http from 'node:http'
import fp from 'fastify-plugin'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import blackhole from '../plugin/index.js'
import { normalizePresetOptions, type PresetOptions, type ResolvedPresetOptions } from './server/options.js'
import { addAdminRoutes } from './server/admin.js'
import { addReplayRoutes } from './server/replay-routes.js'
import { startStatsLog } from './server/stats.js'

export type { PresetOptions }

export interface SinkCounters {
  requests: number
  bodyBytes: number
  tooLarge: number
}

declare module 'fastify' {
  interface FastifyInstance {
    sink: { counters: SinkCounters, options: ResolvedPresetOptions }
  }
}

class BodyTooLargeError extends Error {
  readonly statusCode = 413
  readonly code = 'FST_ERR_CTP_BODY_TOO_LARGE'
  constructor (limit: number) {
    super(`Request body is larger than the limit of ${limit} bytes`)
  }
}

async function blackholePreset (fastify: FastifyInstance, rawOpts: PresetOptions): Promise<void> {
  const o = normalizePresetOptions(rawOpts)
  const counters: SinkCounters = { requests: 0, bodyBytes: 0, tooLarge: 0 }
  fastify.decorate('sink', { counters, options: o })

  if (o.record) {
    await fastify.register(blackhole, {
      dir: o.out,
      ...(o.upload !== null ? { upload: o.upload } : {}),
      codec: o.codec,
      batchBytes: o.batchBytes,
      flushMs: o.flushMs,
      rotateBytes: o.rotateBytes,
      rotateMs: o.rotateMs,
      retainBytes: o.retainBytes,
      fsync: o.fsync,
      blockChecksum: o.blockChecksum,
      recover: o.recover,
      sample: o.sample,
      maxBodyBytes: o.bodyLimit,
      // The sink records what it receives; only the headers asked for are redacted.
      redact: o.redactHeaders.length > 0 ? { headers: o.redactHeaders } : false,
      originalUriHeader: 'x-original-uri',
      // The sink's own 200 says nothing about the real service: replay must not compare with it.
      // (The admin routes, a catch-all under their prefix included, say `config.blackhole: false`:
      // no URL filter runs on every sink request.)
      recordResponse: false
    })
  }

  // Bodies are drained, counted and thrown away: the plugin has already teed the bytes. The
  // listeners stay on the request stream until it is gone: removing them (or `once`, which
  // removes itself) costs more per request than the guard below.
  function drain (request: FastifyRequest, payload: NodeJS.ReadableStream, done: (err: Error | null, body?: undefined) => void): void {
    const limit = o.bodyLimit
    const declared = Number(request.headers['content-length'])
    if (declared > limit) {
      counters.tooLarge++
      done(new BodyTooLargeError(limit))
      return
    }
    let received = 0
    let finished = false
    const finish = (err: Error | null): void => {
      if (finished) return
      finished = true
      counters.bodyBytes += received
      // (After an error the data listener keeps the body flowing, so the connection can be reused or closed cleanly.)
      done(err)
    }
    payload.on('data', (chunk: Buffer): void => {
      received += chunk.length
      if (received > limit && !finished) {
        counters.tooLarge++
        finish(new BodyTooLargeError(limit))
      }
    })
    payload.on('end', () => finish(null))
    payload.on('error', finish)
  }
  fastify.removeAllContentTypeParsers()
  fastify.addContentTypeParser('*', drain)

  for (const m of http.METHODS) {
    if (m === 'CONNECT') continue // Node hands CONNECT to the 'connect' event, never to Fastify
    if (!fastify.supportedMethods.includes(m)) fastify.addHttpMethod(m, { hasBody: true })
  }
  const methods = fastify.supportedMethods.filter(m => m !== 'CONNECT')

  const { status, headers, body } = o.response
  const fixed = status !== 200 || Object.keys(headers).length > 0 || body !== ''
  function sinkHandler (_request: FastifyRequest, reply: FastifyReply): void {
    counters.requests++
    if (fixed) reply.code(status).headers(headers).send(body)
    else reply.send()
  }
  // Fastify answers a malformed Content-Type with 415 before any parser runs; a sink answers 200
  // to every content type. Handled here, on the error path, so other requests pay nothing.
  fastify.setErrorHandler(function sinkErrors (error: FastifyError, request, reply) {
    if (error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      // No parser ran: drain the body as the sink parser would, then answer as the sink does.
      drain(request, request.raw, (err) => {
        if (err !== null) sinkErrors.call(fastify, err as FastifyError, request, reply)
        else sinkHandler(request, reply.code(status)) // Fastify had set 415
      })
      return
    }
    reply.code(typeof error.statusCode === 'number' && error.statusCode >= 400 ? error.statusCode : 500).send(error)
  })
  const routeOpts = { bodyLimit: o.bodyLimit, exposeHeadRoute: false, handler: sinkHandler }
  fastify.route({ method: methods, url: '/', ...routeOpts })
  fastify.route({ method: methods, url: '/*', ...routeOpts })

  const startedAt = Date.now()
  if (o.admin) {
    // Own context: the admin routes parse JSON, the sink parses nothing.
    await fastify.register(async function blackholeAdmin (admin) {
      admin.addContentTypeParser('application/json', { parseAs: 'string' }, admin.getDefaultJsonParser('error', 'ignore'))
      addAdminRoutes(admin, o, startedAt)
      if (o.adminToken !== '') {
        addReplayRoutes(admin, { prefix: o.adminPrefix, token: o.adminToken, allow: o.replayAllow, dir: o.out, maxJobs: o.replayMaxJobs })
      }
    })
  }
  if (o.statsIntervalMs > 0) {
    const timer = startStatsLog(fastify, o.statsIntervalMs, startedAt)
    fastify.addHook('onClose', async () => clearInterval(timer))
  }
}

// Not encapsulated: the `sink` and `archive` decorators reach the instance the preset is registered on.
export default fp(blackholePreset, { fastify: '5.x', name: 'fastify-blackhole-preset' })

// fastify-cli: the server options used with `fastify start -o`, with the timeouts of
// `blackhole serve` (docs/cli.md): headers within 30 s, whole requests within 300 s, checked
// every second.
export const options = {
  bodyLimit: 64 << 20,
  requestTimeout: 300_000,
  keepAliveTimeout: 72_000,
  http: { headersTimeout: 30_000, connectionsCheckingInterval: 1000 }
}
