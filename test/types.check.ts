// Type tests for the plugin's options, route config and decorator. Never run: `tsc` compiles
// it with the rest (npm test type-checks everything), so a `@ts-expect-error` line whose
// statement compiles, or a plain line that does not, fails the build.
import type { FastifyInstance } from 'fastify'
import blackhole, { type ArchiveService, type BlackholeOptions, type BlackholeStats, type RedactOptions } from '../plugin/index.js'

// eslint-disable-next-line @typescript-eslint/no-unused-vars
async function typeChecks (app: FastifyInstance): Promise<void> {
  // Options that compile.
  await app.register(blackhole, { dir: './archive', sample: 0.05, redact: { headers: ['authorization'] } })
  await app.register(blackhole, { dir: './a', sampleBy: 'ip', maxPerSecond: 100, include: { methods: ['POST'], urls: ['/api/', /^\/v\d+\//] } })
  await app.register(blackhole, { dir: './a', sampleBy: { header: 'x-user' }, redact: { mode: 'hash', hashKey: Buffer.from('k'), jsonKeys: ['password'] } })
  await app.register(blackhole, { dir: './a', redact: false, codec: 'none', originalUriHeader: false, maxBodyBytes: 1024 })
  const mode: RedactOptions['mode'] = 'remove'
  const opts: BlackholeOptions = { dir: './a', redact: { mode, mask: '***' } }
  await app.register(blackhole, opts)

  // Wrong option types do not.
  // @ts-expect-error sample is a number
  await app.register(blackhole, { dir: './a', sample: 'x' })
  // @ts-expect-error redact.mode is 'remove' | 'mask' | 'hash'
  await app.register(blackhole, { dir: './a', redact: { mode: 'bogus' } })
  // @ts-expect-error sampleBy is 'ip' or { header }
  await app.register(blackhole, { dir: './a', sampleBy: 'cookie' })
  // @ts-expect-error include.urls holds strings and RegExps
  await app.register(blackhole, { dir: './a', include: { urls: [3] } })
  // @ts-expect-error redact is an object or false
  await app.register(blackhole, { dir: './a', redact: true })
  // @ts-expect-error codec is one of the codec names
  await app.register(blackhole, { dir: './a', codec: 'zstd' })
  // @ts-expect-error unknown option
  const bad: BlackholeOptions = { dir: './a', sampel: 1 }

  // Route config.
  app.get('/off', { config: { blackhole: false } }, async () => 'off')
  app.get('/always', { config: { blackhole: { sample: 1 } } }, async () => 'always')
  app.post('/none', { config: {} }, async () => 'none')
  // Fails today (the directive is unused): Fastify infers the route's ContextConfig from the
  // literal and intersects it with FastifyContextConfig, and `{ sample?: number } & string`
  // accepts 'yes'. See the plugin's `declare module 'fastify'` block.
  // @ts-expect-error blackhole is false or { sample }
  app.get('/bad', { config: { blackhole: 'yes' } }, async () => 'bad')
  // @ts-expect-error sample is a number
  app.get('/bad2', { config: { blackhole: { sample: '1' } } }, async () => 'bad')

  // The decorator.
  const service: ArchiveService = app.archive
  const recorded: number = app.archive.stats().capture.recorded
  // @ts-expect-error recorded is a number, not any
  const recordedAsString: string = app.archive.stats().capture.recorded
  const stats: BlackholeStats = service.stats()
  const dropped: number = stats.archive.recordsDropped
  const flushed: Promise<void> = app.archive.flush()
  // @ts-expect-error flush() resolves to void, not any
  const flushedAsNumber: Promise<number> = app.archive.flush()
  const rotated: Promise<void> = app.archive.rotate()
  const accepted: boolean = app.archive.record({ method: 'GET', uri: '/x', body: new Uint8Array(1), timeNs: 1n })
  // @ts-expect-error a record needs a uri
  app.archive.record({ method: 'GET' })
  const sealed: Array<{ path: string, name: string, bytes: number, mtime: Date }> = await app.archive.listSealed()
  const dir: string = app.archive.dir
  // @ts-expect-error the service is read-only where it matters
  app.archive.dir = '/elsewhere'
  consume(bad, recorded, recordedAsString, dropped, flushed, flushedAsNumber, rotated, accepted, sealed, dir)
}

declare function consume (...values: unknown[]): void

/** Referenced so the checks count as used; a type, so nothing exists at runtime. */
export type TypeChecks = typeof typeChecks
