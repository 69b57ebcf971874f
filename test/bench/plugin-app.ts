// Server under test for the plugin benchmark (plugin.ts): a Fastify 5 app with one JSON route,
// `POST /orders`, whose body goes through Fastify's built-in JSON parser and whose answer is
// computed from it. Three variants:
//
//   A  without the plugin
//   B  with fastify-blackhole at sample 1    (dir = DIR, default codec, default redaction)
//   C  with fastify-blackhole at sample 0.05 (same)
//
// Usage: node dist/test/bench/plugin-app.js A|B|C PORT [DIR]   (DIR required for B and C)
//
// Also: `GET /bench-ready` (readiness probe; recorded like any request) and `GET /bench-stats`
// (`app.archive.stats()`, never recorded: `config: { blackhole: false }`; `{}` for A).
// Logger off, 127.0.0.1 only. SIGTERM closes the app, which flushes and seals the archive.
import Fastify from 'fastify'
import blackhole from '../../plugin/index.js'

const [variant, portArg, dir] = process.argv.slice(2)
const port = Number(portArg)
const SAMPLE: Record<string, number | null> = { A: null, B: 1, C: 0.05 }
const sample = SAMPLE[variant ?? '']
if (sample === undefined || !Number.isInteger(port) || port < 1 || port > 65535 || (sample !== null && (dir === undefined || dir === ''))) {
  process.stderr.write('Usage: node plugin-app.js A|B|C PORT [DIR]   (DIR required for B and C)\n')
  process.exit(2)
}

const app = Fastify({ logger: false })
if (sample !== null) await app.register(blackhole, { dir, sample })

interface Order { orderId?: unknown, items?: unknown }

app.post<{ Body: Order }>('/orders', {
  schema: {
    response: {
      200: {
        type: 'object',
        properties: { id: { type: 'string' }, items: { type: 'integer' } },
        required: ['id', 'items']
      }
    }
  }
}, async function orders (request, reply) {
  const body = request.body
  if (body === null || typeof body !== 'object' || typeof body.orderId !== 'string' || !Array.isArray(body.items)) {
    return await reply.code(400).send({ error: 'an order needs orderId and items' })
  }
  return { id: body.orderId, items: body.items.length }
})

app.get('/bench-ready', async () => 'ok')

app.get('/bench-stats', { config: { blackhole: false } }, async () => {
  return app.hasDecorator('archive') ? app.archive.stats() : {}
})

process.once('SIGTERM', () => {
  app.close().then(() => process.exit(0), (err: Error) => {
    process.stderr.write(`plugin-app: close failed: ${err.message}\n`)
    process.exit(1)
  })
})

await app.listen({ port, host: '127.0.0.1' })
process.stdout.write(`plugin-app: variant ${variant} listening on http://127.0.0.1:${port}\n`)
