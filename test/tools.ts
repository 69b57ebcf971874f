// Shared by the interop tests: external tools (lz4, flatc, curl, wrk) are required in CI and
// optional on a developer machine, where a missing tool skips the test with a reason.
import { spawnSync } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import type { TestContext } from 'node:test'

export function hasTool (name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0
}

/**
 * Returns true when `tool` can be used. Without it: in CI (CI=true) the test fails, since
 * .ci/run installs every tool; elsewhere the test is skipped with a message.
 */
export function requireTool (t: TestContext, tool: string): boolean {
  if (hasTool(tool)) return true
  if (process.env.CI === 'true' || process.env.CI === '1') throw new Error(`${tool} is required in CI (.ci/run installs it) but was not found`)
  t.skip(`${tool} not installed`)
  return false
}

export async function tmpDir (tag: string): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), `fbh-${tag}-`))
}

export async function rmDir (dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true })
}

/** Deterministic pseudo-random bytes (incompressible, so file sizes are predictable). */
export function noise (n: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(n)
  let x = (seed * 2654435761 + 1) >>> 0
  for (let i = 0; i < n; i++) {
    x ^= x << 13
    x >>>= 0
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    b[i] = x & 0xFF
  }
  return b
}
