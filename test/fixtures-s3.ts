// A real S3-protocol server for the s3-*.test.ts files: s3rver (a devDependency), started in
// this process on 127.0.0.1 with port 0, its data in a temp directory. It can be stopped and
// started again on the same port to play a store outage. Loopback only, no internet.
import { createHash } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import type { TestContext } from 'node:test'
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3'

// The SDK's credential and region chains read these; s3rver accepts S3RVER/S3RVER.
export const S3_ENV = {
  AWS_ACCESS_KEY_ID: 'S3RVER',
  AWS_SECRET_ACCESS_KEY: 'S3RVER',
  AWS_REGION: 'us-east-1',
  AWS_EC2_METADATA_DISABLED: 'true',
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true'
}
Object.assign(process.env, S3_ENV)
for (const k of ['AWS_PROFILE', 'AWS_ENDPOINT_URL', 'AWS_ENDPOINT_URL_S3', 'AWS_SESSION_TOKEN']) delete process.env[k]

interface S3rverLike {
  run (): Promise<{ port: number }>
  close (): Promise<void>
}

export class S3Store {
  port = 0
  readonly bucket = 'recordings'
  #srv: S3rverLike | null = null
  readonly client: S3Client

  private constructor (readonly dir: string, private readonly Ctor: new (o: object) => S3rverLike) {
    this.client = null as unknown as S3Client
  }

  get endpoint (): string {
    return `http://127.0.0.1:${this.port}`
  }

  static async start (t: TestContext): Promise<S3Store | null> {
    let Ctor: new (o: object) => S3rverLike
    try {
      const name = 's3rver' // no type declarations: loaded by name
      Ctor = ((await import(name)) as { default: new (o: object) => S3rverLike }).default
    } catch (err) {
      // CI installs the devDependencies: there a missing server is a failure, not a skip.
      if (process.env.CI === 'true' || process.env.CI === '1') throw new Error(`s3rver is required in CI: ${(err as Error).message}`)
      t.skip('s3rver not installed')
      return null
    }
    const dir = await mkdtemp(path.join(os.tmpdir(), 'fbh-s3rver-'))
    const store = new S3Store(dir, Ctor)
    await store.up()
    ;(store as { client: S3Client }).client = new S3Client({ endpoint: store.endpoint, forcePathStyle: true, region: 'us-east-1' })
    await store.client.send(new CreateBucketCommand({ Bucket: store.bucket }))
    return store
  }

  /** Starts the server (again, on the same port and data after the first time). */
  async up (): Promise<void> {
    if (this.#srv !== null) return
    const srv = new this.Ctor({ address: '127.0.0.1', port: this.port, silent: true, directory: this.dir })
    const { port } = await srv.run()
    this.port = port
    this.#srv = srv
  }

  async down (): Promise<void> {
    const srv = this.#srv
    this.#srv = null
    await srv?.close()
  }

  async destroy (): Promise<void> {
    this.client?.destroy()
    await this.down()
    await rm(this.dir, { recursive: true, force: true })
  }

  async keys (prefix = ''): Promise<string[]> {
    const out: string[] = []
    let token: string | undefined
    do {
      const r = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }))
      for (const o of r.Contents ?? []) if (o.Key !== undefined) out.push(o.Key)
      token = r.IsTruncated === true ? r.NextContinuationToken : undefined
    } while (token !== undefined)
    return out.sort()
  }

  async get (key: string): Promise<Buffer> {
    const r = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }))
    return Buffer.from(await (r.Body as { transformToByteArray: () => Promise<Uint8Array> }).transformToByteArray())
  }

  async put (key: string, body: Buffer): Promise<void> {
    await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body }))
  }

  url (prefix: string): string {
    return `s3://${this.bucket}/${prefix}`
  }
}

export const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

/** Polls `check` until it returns true, failing with `what` after `timeoutMs`. */
export async function until (what: string, check: () => Promise<boolean> | boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!await check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}
