// Reading archives straight from S3-compatible storage: objects are listed under a prefix and
// streamed (GetObject body) into the reader, never downloaded whole first.
import type { GetObjectCommandOutput, S3Client } from '@aws-sdk/client-s3'
import { createS3Client, loadS3Sdk, type S3ClientOptions } from './client.js'
import { parseS3Url, s3Url } from './url.js'
import type { ByteSource } from '../archive/byte-source.js'
import { isArchiveName } from '../format/archive-name.js'
import { ArchiveError, OptionError } from '../errors.js'

/** Reconnections (with a Range request) after a body stream breaks mid-object. */
const RESUMES = 3

const basename = (key: string): string => key.slice(key.lastIndexOf('/') + 1)

/** Lists and opens the archives of s3:// URLs with one client, made on first use from `options`. */
export class S3Archives {
  #client: Promise<S3Client> | null = null

  constructor (private readonly options: S3ClientOptions = {}) {}

  #connect (): Promise<S3Client> {
    this.#client ??= createS3Client(this.options)
    return this.#client
  }

  /**
   * The archive objects under an s3:// prefix (every level below it: per-host prefixes included),
   * as s3:// URLs sorted by file name and then key, so that the files of many sinks interleave
   * in time order (names start with the UTC time they were opened).
   */
  async list (url: string): Promise<string[]> {
    const { bucket, prefix } = parseS3Url(url)
    if (isArchiveName(prefix)) return [s3Url(bucket, prefix)]
    const client = await this.#connect()
    const { ListObjectsV2Command } = await loadS3Sdk()
    const keys: string[] = []
    let token: string | undefined
    do {
      const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }))
      for (const o of page.Contents ?? []) if (o.Key !== undefined && isArchiveName(o.Key)) keys.push(o.Key)
      token = page.IsTruncated === true ? page.NextContinuationToken : undefined
    } while (token !== undefined)
    keys.sort((a, b) => {
      const na = basename(a)
      const nb = basename(b)
      return na < nb ? -1 : na > nb ? 1 : a < b ? -1 : a > b ? 1 : 0
    })
    return keys.map(k => s3Url(bucket, k))
  }

  /** Opens `s3://bucket/key` for streaming. */
  async open (url: string): Promise<ByteSource> {
    return openS3Object(url, await this.#connect())
  }
}

type Body = AsyncIterable<Uint8Array> & { destroy?: () => void }

/** One object as a forward-only byte source; reads ahead of the position skip bytes. */
class S3ObjectSource implements ByteSource {
  readonly name: string
  readonly size: number
  #body: Body
  #it: AsyncIterator<Uint8Array>
  #chunk: Uint8Array = new Uint8Array(0)
  /** Object offset of #chunk[0]. */
  #at = 0
  #resumes = 0

  constructor (name: string, private readonly client: S3Client, private readonly bucket: string, private readonly key: string,
    private readonly etag: string | undefined, first: GetObjectCommandOutput) {
    this.name = name
    this.size = first.ContentLength ?? 0
    this.#body = first.Body as unknown as Body
    this.#it = this.#body[Symbol.asyncIterator]()
  }

  async #next (): Promise<boolean> {
    for (;;) {
      try {
        const r = await this.#it.next()
        if (r.done === true) return false
        this.#chunk = r.value
        return true
      } catch (err) {
        // A long pause (slow replay) or a network hiccup can break the body stream: go on from
        // the same byte of the same object version.
        if (this.#resumes++ >= RESUMES || this.#at >= this.size) throw err
        this.#body.destroy?.()
        const { GetObjectCommand } = await loadS3Sdk()
        const res = await this.client.send(new GetObjectCommand({
          Bucket: this.bucket, Key: this.key, Range: `bytes=${this.#at}-`, ...(this.etag !== undefined ? { IfMatch: this.etag } : {})
        }))
        this.#body = res.Body as unknown as Body
        this.#it = this.#body[Symbol.asyncIterator]()
      }
    }
  }

  async read (buf: Uint8Array, off: number, len: number, pos: number): Promise<number> {
    if (pos < this.#at) throw new ArchiveError('IO', this.name, pos, `cannot read backwards in a stream (at ${this.#at}, asked ${pos})`)
    for (;;) {
      const skip = pos - this.#at
      if (skip < this.#chunk.length) {
        const n = Math.min(len, this.#chunk.length - skip)
        buf.set(this.#chunk.subarray(skip, skip + n), off)
        this.#chunk = this.#chunk.subarray(skip + n)
        this.#at = pos + n
        return n
      }
      this.#at += this.#chunk.length
      this.#chunk = new Uint8Array(0)
      if (!await this.#next()) return 0
    }
  }

  async close (): Promise<void> {
    this.#body.destroy?.()
  }
}

/** Opens `s3://bucket/key` for streaming with `client`. */
export async function openS3Object (url: string, client: S3Client): Promise<ByteSource> {
  // Keys come from a listing (or the user) as they are: no normalising here.
  const m = /^s3:\/\/([^/]+)\/(.+)$/i.exec(url)
  if (m === null) throw new OptionError(`not an s3://bucket/key URL: '${url}'`)
  const [, bucket, key] = m
  const { GetObjectCommand } = await loadS3Sdk()
  const res = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }))
  return new S3ObjectSource(url, client, bucket, key, res.ETag, res)
}
