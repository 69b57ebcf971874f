// The one place that tells local archive files from s3:// objects. A reader is handed an
// ArchiveSources (or makes one): it lists paths into archive files and opens them. The s3 side,
// and with it the AWS SDK, is loaded only when an s3:// path comes up, so reading local files
// never pays for it; its client is made once per sources object, from the options given here.
import { readdir, stat } from 'node:fs/promises'
import path from 'node:path'
import { isArchiveName } from '../format/archive-name.js'
import { ArchiveError } from '../errors.js'
import type { S3ClientOptions } from '../s3/client.js'
import type { S3Archives } from '../s3/source.js'
import { isS3Url } from '../s3/url.js'
import { openLocalFile, type ByteSource } from './byte-source.js'

export interface ArchiveSources {
  /**
   * Expands paths into archive files: files are taken as given, directories contribute their
   * sealed archives (`*.fbf`, `*.fbf.lz4`, not `.tmp`) sorted by name, which is time order, and
   * `s3://bucket/prefix` URLs the archive objects below the prefix, as `s3://bucket/key` URLs.
   */
  list (paths: readonly string[]): Promise<string[]>
  /** Opens one archive file: a local path or an `s3://bucket/key` URL. */
  open (file: string): Promise<ByteSource>
}

/** Local files, and s3:// objects read with a client made on first use from `s3` (default: the AWS SDK's settings). */
export function archiveSources (s3: S3ClientOptions = {}): ArchiveSources {
  return new LocalAndS3Sources(s3)
}

class LocalAndS3Sources implements ArchiveSources {
  readonly #s3Options: S3ClientOptions
  #s3: Promise<S3Archives> | null = null

  constructor (s3: S3ClientOptions) {
    this.#s3Options = { ...s3 }
  }

  #s3Archives (): Promise<S3Archives> {
    this.#s3 ??= import('../s3/source.js').then(m => new m.S3Archives(this.#s3Options))
    return this.#s3
  }

  async list (paths: readonly string[]): Promise<string[]> {
    const out: string[] = []
    for (const p of paths) {
      if (isS3Url(p)) {
        // An s3:// prefix stands for every archive object below it (see lib/s3/source.ts for the order).
        try {
          out.push(...await (await this.#s3Archives()).list(p))
        } catch (err) {
          throw new ArchiveError('IO', p, 0, (err as Error).message)
        }
        continue
      }
      out.push(...await listLocal(p))
    }
    return out
  }

  async open (file: string): Promise<ByteSource> {
    return isS3Url(file) ? (await this.#s3Archives()).open(file) : openLocalFile(file)
  }
}

async function listLocal (p: string): Promise<string[]> {
  let st
  try {
    st = await stat(p)
  } catch (err) {
    throw new ArchiveError('IO', p, 0, (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (err as Error).message)
  }
  if (!st.isDirectory()) return [p]
  const names = []
  for (const e of await readdir(p, { withFileTypes: true })) {
    if (!isArchiveName(e.name)) continue
    // Symlinks count when they lead to a file; directories named like archives do not.
    if (e.isFile() || (e.isSymbolicLink() && await stat(path.join(p, e.name)).then(s => s.isFile(), () => false))) names.push(e.name)
  }
  return names.sort().map(n => path.join(p, n))
}
