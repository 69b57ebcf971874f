// Body capture for one sampled request. The bytes are taken where Node's HTTP parser hands
// them to the request stream (`push`), before any decoding: a `data` listener would see strings
// once Fastify's JSON/text parsers call setEncoding('utf8'), and a PassThrough would cost a
// stream per request. Content-type parsers, bodyLimit and backpressure see nothing different.
import type { IncomingMessage, ServerResponse } from 'node:http'
import { Socket } from 'node:net'
import type { Readable } from 'node:stream'

export const kCapture = Symbol('fastify-blackhole.capture')

type PushFn = (chunk: unknown, encoding?: BufferEncoding) => boolean
type TeeStream = Readable & { [kCapture]?: Capture, push: PushFn, complete?: boolean }
type CapturedResponse = ServerResponse & { [kCapture]?: Capture }
const kConnection = Symbol('fastify-blackhole.connection')
type CapturedSocket = NonNullable<IncomingMessage['socket']> & { [kConnection]?: Connection }

/**
 * An HTTP/1 connection's open captures, and its peer: read once per connection, since
 * `remoteAddress` and `remotePort` ask the operating system again on every read.
 */
interface Connection {
  readonly captures: Capture[]
  readonly remoteAddress: string | undefined
  readonly remotePort: number | undefined
}

/** Body bytes held by the captures of one plugin instance that have not finished yet. */
export interface CaptureBudget {
  used: number
  readonly max: number
  /** Captures that had to stop keeping bytes because the budget was spent. */
  overruns: number
}

export class Capture {
  readonly chunks: Buffer[] = []
  /** Bytes kept (at most maxBodyBytes). */
  kept = 0
  /** Bytes received in all. */
  received = 0
  /** Stopped keeping bytes: the plugin's budget for bodies in flight was spent. */
  overBudget = false
  ended = false
  responded = false
  done = false
  status = 0
  endNs = 0n
  /** Close listeners on the request and response themselves (HTTP/2, inject), not only on the connection. */
  streamListeners = false
  /** Listed on its connection, which finishes it when it closes. */
  onSocket = false
  /**
   * Finishes when the response does (or later, if the body is still arriving). Otherwise it
   * finishes when the body ends or the connection closes, and no listener goes on the response.
   */
  waitResponse = true
  readonly origPush: PushFn
  // What the record needs from the request, read when the capture starts: then every request
  // object still has the shape Node gave it, so these reads stay monomorphic.
  readonly method: string
  readonly url: string
  readonly httpVersion: string
  readonly rawHeaders: string[]
  readonly headers: IncomingMessage['headers']
  /** The peer: from the connection for HTTP/1 (read once per connection), else from the socket. */
  remoteAddress: string | undefined = undefined
  remotePort: number | undefined = undefined

  constructor (
    readonly raw: TeeStream,
    readonly res: CapturedResponse,
    readonly startNs: bigint,
    readonly maxBodyBytes: number,
    readonly budget: CaptureBudget,
    /** Take the response's status and time: the capture waits for the response. */
    readonly timeResponse: boolean,
    /** Called once, when the request is complete (or aborted). */
    readonly onDone: (cap: Capture) => void
  ) {
    this.origPush = raw.push
    const req = raw as unknown as IncomingMessage
    this.method = req.method ?? ''
    this.url = req.url ?? ''
    this.httpVersion = req.httpVersion
    this.rawHeaders = req.rawHeaders
    this.headers = req.headers
  }

  add (chunk: Buffer): void {
    this.received += chunk.length
    let room = this.maxBodyBytes - this.kept
    const budget = this.budget
    if (room > budget.max - budget.used) {
      room = budget.max - budget.used
      if (room < chunk.length && !this.overBudget) {
        this.overBudget = true
        budget.overruns++
      }
    }
    if (room <= 0) return
    const part = chunk.length <= room ? chunk : chunk.subarray(0, room)
    this.chunks.push(part)
    this.kept += part.length
    budget.used += part.length
  }

  /**
   * The response went out before the body ended (the app answered early, e.g. 413): the request
   * stream may never end or close now, so the connection closing finishes the capture too.
   */
  awaitBodyEnd (): void {
    const socket = (this.raw as unknown as IncomingMessage).socket as CapturedSocket | null
    if (socket === null || socket.destroyed) {
      this.finish()
      return
    }
    if (!this.onSocket) watchSocket(socket, this)
  }

  get truncated (): boolean {
    return this.received > this.kept || !this.ended
  }

  body (): Buffer {
    return this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.kept)
  }

  finish (): void {
    if (this.done) return
    this.done = true
    // The record copies the bytes into the writer's batch right below: they are no longer held.
    this.budget.used -= this.kept
    this.raw.push = this.origPush
    this.raw[kCapture] = undefined
    // The response's finish listener stays: it finds no capture (cheaper than removing it).
    this.res[kCapture] = undefined
    if (this.streamListeners) {
      this.raw.removeListener('close', onRequestClose)
      this.res.removeListener('close', onResponseClose)
    }
    if (this.onSocket) {
      this.onSocket = false
      const list = (((this.raw as unknown as IncomingMessage).socket as CapturedSocket)[kConnection] as Connection).captures
      const i = list.indexOf(this)
      if (i >= 0) {
        list[i] = list[list.length - 1]
        list.pop()
      }
    }
    this.onDone(this)
  }
}

function teePush (this: TeeStream, chunk: unknown, encoding?: BufferEncoding): boolean {
  const cap = this[kCapture]
  if (cap !== undefined) {
    if (chunk === null) {
      cap.ended = true
      // Complete, and answered already (the handler did not wait for the body) or not waited for.
      if (cap.responded || !cap.waitResponse) cap.finish()
    } else if (Buffer.isBuffer(chunk)) {
      cap.add(chunk)
    } else if (typeof chunk === 'string') {
      cap.add(Buffer.from(chunk, encoding))
    } else if (chunk instanceof Uint8Array) {
      cap.add(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length))
    }
  }
  // Called with the stream as `this`, as the parser does; `cap` may have been finished above.
  return (cap?.origPush ?? Object.getPrototypeOf(this).push).call(this, chunk, encoding)
}

// A request stream closes after its body is read (normal: the response finishes the capture)
// or when the connection goes away mid-body: then what arrived is recorded, flagged truncated.
function onRequestClose (this: TeeStream): void {
  const cap = this[kCapture]
  if (cap !== undefined && !this.complete) cap.finish()
}

// The response is out: its status and time are known. A body still arriving (the app answered
// early) is recorded when it ends or the connection closes. (A listener on the sampled
// responses only: an onResponse hook would make Fastify watch every response of the app.)
function onResponseFinish (this: CapturedResponse): void {
  const cap = this[kCapture]
  if (cap === undefined || cap.done) return
  cap.responded = true
  cap.status = this.statusCode
  if (cap.timeResponse) cap.endNs = process.hrtime.bigint()
  if (cap.ended) cap.finish()
  else cap.awaitBodyEnd()
}

// A response that closes without finishing was cut off (client gone): it will not finish.
function onResponseClose (this: CapturedResponse): void {
  const cap = this[kCapture]
  if (cap !== undefined && !this.writableFinished) cap.finish()
}

function onSocketClose (this: CapturedSocket): void {
  const conn = this[kConnection]
  if (conn !== undefined) for (const cap of conn.captures.slice()) cap.finish()
}

/**
 * On an HTTP/1 connection a request or response cut off before its end is always the
 * connection closing, so one close listener per connection, added once, stands in for close
 * listeners on every request and response. (Pipelined requests can be open together.)
 */
function watchSocket (socket: CapturedSocket, cap: Capture): Connection {
  let conn = socket[kConnection]
  if (conn === undefined) {
    conn = socket[kConnection] = { captures: [], remoteAddress: socket.remoteAddress, remotePort: socket.remotePort }
    socket.on('close', onSocketClose)
  }
  conn.captures.push(cap)
  cap.onSocket = true
  return conn
}

/** Chunks already buffered in the stream before the tee was installed (an async hook ran first). */
function buffered (raw: Readable): Buffer[] {
  const state = (raw as unknown as { _readableState?: { buffer?: unknown } })._readableState
  const list = state?.buffer
  const out: Buffer[] = []
  if (Array.isArray(list)) {
    for (const c of list) if (Buffer.isBuffer(c)) out.push(c)
  } else if (list !== null && typeof list === 'object' && 'head' in list) {
    for (let n = (list as { head: { data: unknown, next: unknown } | null }).head; n !== null; n = n.next as typeof n) {
      if (Buffer.isBuffer(n.data)) out.push(n.data)
    }
  }
  return out
}

/** Starts capturing the body of `raw`; the capture finishes itself when the request ends. */
export function startCapture (raw: IncomingMessage, res: ServerResponse, startNs: bigint, maxBodyBytes: number, budget: CaptureBudget, timeResponse: boolean, onDone: (cap: Capture) => void): Capture {
  const stream = raw as unknown as TeeStream
  const cap = new Capture(stream, res, startNs, maxBodyBytes, budget, timeResponse, onDone)
  if (stream.readableLength > 0) for (const c of buffered(stream)) cap.add(c)
  // A request without a body never ends its stream unless someone reads it (inject, bodyless methods).
  const h = raw.headers
  // (HTTP/2 bodies need no length header, so there only the stream says when it is complete.)
  if (raw.complete || (raw.httpVersionMajor < 2 && h['transfer-encoding'] === undefined && (h['content-length'] === undefined || h['content-length'] === '0'))) cap.ended = true
  stream[kCapture] = cap
  stream.push = teePush
  const response = res as CapturedResponse
  const socket = raw.socket as CapturedSocket | null
  const http1 = raw.httpVersionMajor < 2 && socket instanceof Socket
  // Only Node's HTTP/1 parser is sure to end every request stream, read or not (inject's and
  // HTTP/2's end when read): elsewhere the response says when the request is done.
  cap.waitResponse = timeResponse || !http1
  if (cap.waitResponse) {
    response[kCapture] = cap
    response.on('finish', onResponseFinish)
  }
  const peer = http1 ? watchSocket(socket, cap) : socket
  cap.remoteAddress = peer?.remoteAddress
  cap.remotePort = peer?.remotePort
  if (http1) {
    // The whole request arrived before the tee (an async hook ran first): nothing to wait for.
    if (raw.complete && !cap.waitResponse) cap.finish()
  } else {
    // HTTP/2 streams end alone (RST_STREAM) while the session lives on, and inject's fake
    // socket never closes. `on`, not `once`: finish() removes them, without a wrapper each.
    cap.streamListeners = true
    stream.on('close', onRequestClose)
    response.on('close', onResponseClose)
  }
  return cap
}
