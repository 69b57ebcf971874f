// The replay engine. Options are checked once (options.ts); records are read (lib/archive,
// shard.ts) and turned into jobs (jobs.ts: loops, filters, limit, multiply, recorded times),
// sent on schedule (schedule.ts: concurrency, rate or speed) after shaping (request.ts), through
// a transport (transport.ts: sockets, inject or dry run), and counted (summary.ts).
import { performance } from 'node:perf_hooks'
import { readShard } from './shard.js'
import { RecordFilter } from './filter.js'
import { RequestShaper } from './request.js'
import { resolveReplayOptions, type ReplayOptions } from './options.js'
import { replayJobs, type Job } from './jobs.js'
import { sendOnSchedule } from './schedule.js'
import { ReplayRun } from './run.js'
import { openTransport } from './transport.js'
import { ReplayTally, type ReplaySummary } from './summary.js'

export { ReplayError } from '../errors.js'
export type { InjectTarget, Pacing, ReplayOptions } from './options.js'
export type { LatencySummary, ReplayProgress, ReplaySummary } from './summary.js'

export async function replay (opts: ReplayOptions): Promise<ReplaySummary> {
  const o = resolveReplayOptions(opts)
  const source = opts.records ?? (() => readShard(opts.paths as string[], opts.shard, { sources: opts.sources }))
  const shaper = new RequestShaper(o.target, o.rewrite)
  const run = new ReplayRun(o.durationMs, o.signal)
  const tally = new ReplayTally(o, run.startedMs)
  const transport = openTransport(o)
  let n = 0
  const send = async (job: Job, dueMs: number): Promise<void> => {
    const req = shaper.shape(job.rec, { n: ++n, copy: job.copy, loop: job.loop })
    tally.sent(dueMs)
    const t0 = performance.now()
    // Outside the try: a dry-run callback that throws ends the replay, it is no failed send.
    const answer = transport.send(req)
    try {
      const status = await answer
      if (status !== null) tally.answered(status, req.recordedStatus, performance.now() - t0)
    } catch (err) {
      tally.failed(err)
    }
  }
  const onProgress = o.onProgress
  const progress = onProgress === undefined ? null : setInterval(() => onProgress(tally.progress()), o.progressMs).unref()
  try {
    await sendOnSchedule(o, replayJobs(o, source, new RecordFilter(o.filter), tally, run), send, run)
  } finally {
    if (progress !== null) clearInterval(progress)
    await transport.close()
  }
  return tally.summary(run.stopped)
}
