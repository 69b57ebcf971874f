// Baseline for the sink benchmark (sink.ts): a bare Fastify 5 catch-all with nothing of
// fastify-blackhole in it. Every method on every path gets an empty 200; bodies of any content
// type are drained without being parsed or kept. Logger off, 127.0.0.1 only.
//
// Usage: node dist/test/bench/bare-fastify.js PORT
import Fastify from 'fastify'

const port = Number(process.argv[2])
if (!Number.isInteger(port) || port < 1 || port > 65535) {
  process.stderr.write('Usage: node bare-fastify.js PORT\n')
  process.exit(2)
}

const app = Fastify({ logger: false })

app.removeAllContentTypeParsers()
app.addContentTypeParser('*', function drain (_request, payload, done) {
  payload.on('data', () => {})
  payload.once('end', () => done(null, undefined))
  payload.once('error', (err) => done(err, undefined))
})

app.all('/*', function sink (_request, reply) {
  reply.code(200).send()
})

await app.listen({ port, host: '127.0.0.1' })
process.stdout.write(`bare-fastify: listening on http://127.0.0.1:${port}\n`)
