// Reading archives straight from S3-compatible storage: objects are listed under a prefix and
// streamed (GetObject body) into the reader, never downloaded whole first.
import type { GetObjectCommandOutput, S3Client } from '@aws-sdk/client-s3'
import { loadS3Sdk, readingS3Client } from './client.js'
import { parseS3Url, s3Url } from './url.js'
import type { ByteSource } from '../archive/reader.js'

const ARCHIVE_KEY = /\.fbf(\.lz4)?$/i
/** Reconnections (with a Range request) after a body stream breaks mid-object. */
const RESUMES = 3

const basename = (key: string): string => key.slice(key.lastIndexOf('/') + 1)

/**
 * The archive objects under an s3:// prefix (every level below it: per-host prefixes included),
 * as s3:// URLs sorted by file name and then key, so that the files of many sinks interleave
 * in time order (names start with the UTC time they were opened).
 */
export async function listS3Archives (url: string, client?: S3Client): Promise<string[]> {
  const { bucket, prefix } = parseS3Url(url)
  if (ARCHIVE_KEY.test(prefix)) return [s3Url(bucket, prefix)]
  const c = client ?? await readingS3Client()
  const { ListObjectsV2Command } = await loadS3Sdk()
  const keys: string[] = []
  let token: string | undefined
  do {
    const page = await c.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }))
    for (const o of page.Contents ?? []) if (o.Key !== undefined && ARCHIVE_KEY.test(o.Key)) keys.push(o.Key)
    token = page.IsTruncated === true ? page.NextContinuationToken : undefined
  } while (token !== undefined)
  keys.sort((a, b) => {
    const na = basename(a)
    const nb = basename(b)
    return na < nb ? -1 : na > nb ? 1 : a < b ? -1 : a > b ? 1 : 0
  })
  return keys.map(k => s3Url(bucket, k))
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
    if (pos < this.#at) throw new Error(`cannot read backwards in a stream (at ${this.#at}, asked ${pos})`)
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

/** Opens `s3://bucket/key` for streaming. */
export async function openS3Object (url: string, client?: S3Client): Promise<ByteSource> {
  // Keys come from a listing (or the user) as they are: no normalising here.
  const m = /^s3:\/\/([^/]+)\/(.+)$/i.exec(url)
  if (m === null) throw new TypeError(`not an s3://bucket/key URL: '${url}'`)
  const [, bucket, key] = m
  const c = client ?? await readingS3Client()
  const { GetObjectCommand } = await loadS3Sdk()
  const res = await c.send(new GetObjectCommand({ Bucket: bucket, Key: key }))
  return new S3ObjectSource(url, c, bucket, key, res.ETag, res)
}
