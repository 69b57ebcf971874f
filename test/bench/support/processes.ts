// Child processes of a benchmark (servers, load generators, CLI runs) and its temp dirs: started,
// waited for, stopped by PID, and cleaned up however the benchmark exits.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'

export const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

// Exit handlers are process-wide, so the children and temp dirs they clean up are too.
const children = new Set<ChildProcess>()
const tempDirs = new Set<string>()
let cleanupInstalled = false

/**
 * On exit (and on SIGINT, SIGTERM, SIGHUP) kills the children still running, by PID, and
 * removes the temp dirs still registered. `name` prefixes the message printed on a signal.
 */
export function installCleanup (name: string): void {
  if (cleanupInstalled) return
  cleanupInstalled = true
  process.on('exit', () => {
    for (const c of children) {
      if (c.exitCode === null && c.signalCode === null) {
        try { c.kill('SIGKILL') } catch { /* already gone */ }
      }
    }
    for (const d of tempDirs) {
      try { rmSync(d, { recursive: true, force: true }) } catch { /* best effort */ }
    }
  })
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      process.stderr.write(`\n${name}: ${sig}, stopping children\n`)
      process.exit(130) // the 'exit' handler kills the children and removes the temp dirs
    })
  }
}

/** A fresh temp dir, removed on exit unless `removeTempDir` removed it first. */
export function makeTempDir (prefix: string): string {
  const d = mkdtempSync(path.join(os.tmpdir(), prefix))
  tempDirs.add(d)
  return d
}

export function removeTempDir (d: string): void {
  rmSync(d, { recursive: true, force: true })
  tempDirs.delete(d)
}

export interface Exit { code: number | null, signal: NodeJS.Signals | null }

export interface Proc {
  child: ChildProcess
  pid: number
  /** stdout + stderr, the last 64 KiB. */
  output: () => string
  exited: Promise<Exit>
  done: () => boolean
}

/** Starts a process that runs alongside the benchmark (a server, a load generator); killed on exit. */
export function start (cmd: string, args: string[], env?: NodeJS.ProcessEnv): Proc {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env })
  if (child.pid === undefined) throw new Error(`could not start ${cmd}`)
  children.add(child)
  let out = ''
  const keep = (b: Buffer): void => {
    out += b.toString('utf8')
    if (out.length > 65536) out = out.slice(-65536)
  }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  let finished = false
  const exited = new Promise<Exit>((resolve) => {
    child.once('error', (err) => { keep(Buffer.from(`spawn error: ${err.message}\n`)) })
    child.once('close', (code, signal) => {
      finished = true
      children.delete(child)
      resolve({ code, signal })
    })
  })
  return { child, pid: child.pid, output: () => out, exited, done: () => finished }
}

export async function waitExit (p: Proc, ms: number): Promise<Exit | null> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<null>((resolve) => { timer = setTimeout(() => resolve(null), ms) })
  try {
    return await Promise.race([p.exited, timeout])
  } finally {
    clearTimeout(timer)
  }
}

const STOP_TIMEOUT_MS = 15_000

export interface Stopped { exit: Exit, ms: number, killed: boolean }

/** SIGTERM, then SIGKILL after `timeoutMs` (15 s). Returns the exit and how long the graceful stop took. */
export async function stop (p: Proc, timeoutMs = STOP_TIMEOUT_MS): Promise<Stopped> {
  const t0 = Date.now()
  if (!p.done()) p.child.kill('SIGTERM')
  let exit = await waitExit(p, timeoutMs)
  let killed = false
  if (exit === null) {
    killed = true
    p.child.kill('SIGKILL')
    exit = await p.exited
  }
  return { exit, ms: Date.now() - t0, killed }
}

/** What went wrong when a server was stopped: killed after the timeout, or (unless `anyExit`) a failing exit. */
export function stopProblems (s: Stopped, anyExit = false): string[] {
  if (s.killed) return [`did not exit within ${STOP_TIMEOUT_MS / 1000} s of SIGTERM: killed`]
  return s.exit.code !== 0 && !anyExit ? [`exit ${s.exit.signal ?? s.exit.code} after SIGTERM`] : []
}

export interface Ran { stdout: string, stderr: string, exit: Exit, ms: number }

/**
 * Runs a command to its end, collecting its stdout (unless `stdout` is a file descriptor to write
 * it to) and the last 100 kB of its stderr; SIGKILL after `timeoutMs`. `ms` is from spawn to exit.
 */
export async function run (cmd: string, args: string[], opts: { timeoutMs: number, stdout?: number }): Promise<Ran> {
  const t0 = performance.now()
  const child = spawn(cmd, args, { stdio: ['ignore', opts.stdout ?? 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout?.setEncoding('utf8').on('data', (s: string) => { stdout += s })
  child.stderr?.setEncoding('utf8').on('data', (s: string) => { stderr = (stderr + s).slice(-100_000) })
  child.once('error', err => { stderr += `spawn error: ${err.message}\n` })
  const timer = setTimeout(() => { if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL') }, opts.timeoutMs)
  const exit = await new Promise<Exit>(resolve => child.once('close', (code, signal) => resolve({ code, signal })))
  const ms = performance.now() - t0
  clearTimeout(timer)
  return { stdout, stderr, exit, ms }
}
