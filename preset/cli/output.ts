// Writing lots of lines to stdout without buffering them all in memory, and without an
// EPIPE stack trace when the reader (`| head`) goes away.
let closed = false
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') {
    closed = true
    return
  }
  throw err
})

/** Writes text to stdout, waiting for the pipe to drain when it is full. Returns false once stdout is gone. */
export async function out (text: string): Promise<boolean> {
  if (closed) return false
  let full
  try {
    full = !process.stdout.write(text)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPIPE') throw err
    closed = true
    return false
  }
  if (full) await drained()
  return !closed
}

/** Resolves on 'drain', 'close' or 'error' (the EPIPE listener above records that), leaving no listener behind. */
function drained (): Promise<void> {
  const stdout = process.stdout
  return new Promise(resolve => {
    const done = (): void => {
      stdout.off('drain', done)
      stdout.off('close', done)
      stdout.off('error', done)
      resolve()
    }
    stdout.on('drain', done)
    stdout.on('close', done)
    stdout.on('error', done)
  })
}

let buffered = ''

/**
 * Like out(), for many small pieces (dump's line per record): they are gathered into writes of
 * 64 KiB, since stdout to a file or pipe is one synchronous write(2) per call. Returns a promise
 * only when it wrote. End with flushOut().
 */
export function outBuffered (text: string): boolean | Promise<boolean> {
  if (closed) return false
  buffered += text
  return buffered.length < 65536 ? true : flushOut()
}

/** Writes what outBuffered() gathered. */
export async function flushOut (): Promise<boolean> {
  if (buffered === '') return !closed
  const text = buffered
  buffered = ''
  return await out(text)
}
