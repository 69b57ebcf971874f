// Where the benchmarks run from (any outDir: dist, dist-bench, ...), the files they use, and which
// CPU runs what.
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export const BENCH_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..') // <outDir>/test/bench
const OUT_ROOT = path.resolve(BENCH_DIR, '../..')
export const REPO = path.resolve(OUT_ROOT, '..')
/** The build directory relative to the repository: `dist` for the normal build. */
export const OUT_NAME = path.relative(REPO, OUT_ROOT)
export const CLI = path.join(OUT_ROOT, 'preset/cli.js')
export const POST_LUA = path.join(REPO, 'test/bench/post.lua')

/** Servers under test run on this CPU, load generators on the other. */
export const SERVER_CPU = '0'
export const CLIENT_CPU = '1'
export const CONNECTIONS = 64
