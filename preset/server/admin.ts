// Admin routes under the reserved prefix (default /_blackhole). They are never recorded.
import type { FastifyInstance, FastifyReply } from 'fastify'
import { newSummary, readFileRecords } from '../../lib/archive/reader.js'
import type { ResolvedPresetOptions } from './options.js'
import { sinkStats } from './stats.js'

interface ArchiveEntry {
  name: string
  bytes: number
  records: number | null
  modified: string
  problem?: string
}

/** Record counts cost a full read, so they are cached per file name, size and mtime. */
const countCache = new Map<string, { key: string, records: number | null, problem?: string }>()

async function countRecords (path: string, key: string): Promise<{ records: number | null, problem?: string }> {
  const hit = countCache.get(path)
  if (hit !== undefined && hit.key === key) return hit
  const sum = newSummary(path)
  let problem: string | undefined
  try {
    // eslint-disable-next-line @typescript-eslint/no-unused-vars
    for await (const _ of readFileRecords(path, { verifyChecksums: false }, sum));
  } catch (err) {
    problem = (err as Error).message
  }
  const entry = { key, records: problem === undefined ? sum.records : null, ...(problem ? { problem } : {}) }
  countCache.set(path, entry)
  return entry
}

export function addAdminRoutes (fastify: FastifyInstance, o: ResolvedPresetOptions, startedAt: number): void {
  const config = { blackhole: false as const }
  fastify.get(`${o.adminPrefix}/stats`, { config }, async () => sinkStats(fastify, startedAt))
  fastify.get(`${o.adminPrefix}/archives`, { config }, async (_req, reply) => {
    if (!fastify.hasDecorator('archive')) return reply.code(404).send({ error: 'not recording (--no-record)' })
    const files = await fastify.archive.listSealed()
    const out: ArchiveEntry[] = []
    for (const f of files) {
      const c = await countRecords(f.path, `${f.bytes}:${f.mtime.getTime()}`)
      out.push({ name: f.name, bytes: f.bytes, records: c.records, modified: f.mtime.toISOString(), ...(c.problem ? { problem: c.problem } : {}) })
    }
    return { dir: fastify.archive.dir, files: out }
  })
  const unknown = async (_req: unknown, reply: FastifyReply): Promise<FastifyReply> => reply.code(404).send({ error: 'unknown admin route' })
  fastify.all(o.adminPrefix, { config }, unknown)
  fastify.all(`${o.adminPrefix}/*`, { config }, unknown)
}
