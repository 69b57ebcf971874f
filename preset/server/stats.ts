// Sink statistics: the JSON of GET /_blackhole/stats and the periodic info line.
import type { FastifyInstance } from 'fastify'
import type { BlackholeStats } from '../../plugin/index.js'
import type { SinkCounters } from '../app.js'

export interface SinkStats {
  uptimeSeconds: number
  pid: number
  sink: SinkCounters
  recording: boolean
  capture?: BlackholeStats['capture']
  archive?: BlackholeStats['archive']
  upload?: BlackholeStats['upload']
}

export function sinkStats (fastify: FastifyInstance, startedAt: number): SinkStats {
  const s: SinkStats = {
    uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
    pid: process.pid,
    sink: { ...fastify.sink.counters },
    recording: fastify.hasDecorator('archive')
  }
  if (s.recording) {
    const b = fastify.archive.stats()
    s.capture = b.capture
    s.archive = b.archive
    if (b.upload !== undefined) s.upload = b.upload
  }
  return s
}

/** Logs one line of rates every `intervalMs` (deltas since the previous line). */
export function startStatsLog (fastify: FastifyInstance, intervalMs: number, startedAt: number): NodeJS.Timeout {
  let prev = sinkStats(fastify, startedAt)
  let prevAt = Date.now()
  const timer = setInterval(() => {
    const now = Date.now()
    const cur = sinkStats(fastify, startedAt)
    const secs = (now - prevAt) / 1000
    const rate = (a: number, b: number): number => Math.round((a - b) / secs)
    const mb = (a: number, b: number): string => ((a - b) / secs / 1e6).toFixed(2)
    const line: Record<string, unknown> = {
      reqPerSec: rate(cur.sink.requests, prev.sink.requests),
      mbInPerSec: mb(cur.sink.bodyBytes, prev.sink.bodyBytes),
      tooLarge: cur.sink.tooLarge
    }
    if (cur.archive && prev.archive && cur.capture && prev.capture) {
      line.recordedPerSec = rate(cur.archive.recordsWritten, prev.archive.recordsWritten)
      line.mbOutPerSec = mb(cur.archive.bytesOut, prev.archive.bytesOut)
      line.compression = cur.archive.bytesOut > 0 ? +(cur.archive.bytesIn / cur.archive.bytesOut).toFixed(2) : null
      line.dropped = cur.archive.recordsDropped
      line.errors = cur.archive.writeErrors + cur.capture.errors
      line.files = cur.archive.filesSealed
    }
    if (cur.upload !== undefined) {
      line.uploaded = cur.upload.uploaded
      line.uploadFailures = cur.upload.failures
      line.uploadPending = cur.upload.pending
    }
    fastify.log.info({ stats: line }, 'blackhole stats')
    prev = cur
    prevAt = now
  }, intervalMs)
  timer.unref()
  return timer
}
