// A server under test on 127.0.0.1: a free port, waiting until it answers, the preset sink's
// command line and its stats route.
import http from 'node:http'
import net from 'node:net'
import { sleep, type Proc } from './processes.js'

export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = net.createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port
      s.close(() => resolve(port))
    })
  })
}

export async function httpGet (port: number, urlPath: string, timeoutMs = 2000): Promise<{ status: number, body: string }> {
  return await new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, agent: false, timeout: timeoutMs }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => { body += c })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
      res.on('error', reject)
    })
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', reject)
  })
}

/** Polls GET `urlPath` until it answers 200 (one request reaches the server). */
export async function waitReady (p: Proc, port: number, urlPath = '/bench-ready', timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (p.done()) throw new Error(`server exited before answering:\n${p.output()}`)
    try {
      const r = await httpGet(port, urlPath)
      if (r.status === 200) return
      throw new Error(`server answered ${r.status} to GET ${urlPath}`)
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code !== 'ECONNREFUSED' && code !== 'ECONNRESET') throw err
    }
    if (Date.now() > deadline) throw new Error(`server did not answer within ${timeoutMs} ms:\n${p.output()}`)
    await sleep(50)
  }
}

/** The lines a server printed besides its banner (`banner` matches those), the first 5: worth a look. */
export function serverLines (output: string, banner: RegExp): string[] {
  return output.split('\n').filter(l => l.trim() !== '' && !banner.test(l)).slice(0, 5)
}

/**
 * `serve` arguments of the preset sink on 127.0.0.1:`port`, warnings only in its log and no stats
 * lines; `mode` is `--no-record` or `--out DIR`.
 */
export function serveArgs (cli: string, port: number | string, mode: readonly string[]): string[] {
  return [cli, 'serve', '--host', '127.0.0.1', '--port', String(port), '--log-level', 'warn', '--stats-interval', '0', ...mode]
}

/** The same command as the docs show it: the normal build, PORT for the port. */
export function serveCommandText (mode: readonly string[]): string {
  return ['node', ...serveArgs('dist/preset/cli.js', 'PORT', mode)].join(' ')
}

export interface SinkStats {
  sink?: { requests?: number, bodyBytes?: number }
  archive?: { recordsWritten: number, recordsDropped: number, bytesIn: number, bytesOut: number, writeErrors: number }
}

/** The preset sink's `GET /_blackhole/stats`, null when it does not answer. */
export async function sinkStats (port: number): Promise<SinkStats | null> {
  try {
    const r = await httpGet(port, '/_blackhole/stats')
    return r.status === 200 ? JSON.parse(r.body) as SinkStats : null
  } catch {
    return null
  }
}

/** The requests the preset sink has answered so far, null when its stats do not answer. */
export async function sinkRequests (port: number): Promise<number | null> {
  return (await sinkStats(port))?.sink?.requests ?? null
}
