// Writing lots of lines to stdout without buffering them all in memory, and without an
// EPIPE stack trace when the reader (`| head`) goes away.
import { once } from 'node:events'

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
  // once() rejects on 'error'; the EPIPE listener above has already recorded it.
  if (full) await Promise.race([once(process.stdout, 'drain'), once(process.stdout, 'close')]).catch(() => {})
  return !closed
}
