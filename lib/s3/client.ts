// The AWS SDK is loaded only when an s3:// URL is used: the sink's start-up and hot path, and
// every command reading local files, never pay for it.
import type { S3Client } from '@aws-sdk/client-s3'
import { OptionError } from '../errors.js'

export interface S3ClientOptions {
  /** Endpoint of a non-AWS store (MinIO, Ceph RGW, R2...). Default: the SDK's (AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, config). */
  endpoint?: string
  /** Path-style URLs (`endpoint/bucket/key`). Default: on when an endpoint is set (non-AWS stores want it), else off. */
  forcePathStyle?: boolean
  /** Region. Default: the SDK's chain (AWS_REGION, config file), else us-east-1. */
  region?: string
  /** Socket idle timeout; 0: none (readers that pause for a slow replay). Default 0. */
  requestTimeoutMs?: number
}

type Sdk = typeof import('@aws-sdk/client-s3')
type Storage = typeof import('@aws-sdk/lib-storage')

// The module loader keeps each package once: calling these again costs a lookup, not a load.
export function loadS3Sdk (): Promise<Sdk> {
  return import('@aws-sdk/client-s3')
}

export function loadS3Storage (): Promise<Storage> {
  return import('@aws-sdk/lib-storage')
}

function envEndpoint (): string | undefined {
  return process.env.AWS_ENDPOINT_URL_S3 || process.env.AWS_ENDPOINT_URL || undefined
}

export function validateS3ClientOptions (o: S3ClientOptions, name: (k: string) => string): void {
  if (o.endpoint !== undefined) {
    let u: URL | null = null
    try {
      u = new URL(o.endpoint)
    } catch {}
    if (u === null || (u.protocol !== 'http:' && u.protocol !== 'https:')) throw new OptionError(`${name('endpoint')} must be an http(s) URL, got '${o.endpoint}'`)
  }
  if (o.forcePathStyle !== undefined && typeof o.forcePathStyle !== 'boolean') throw new OptionError(`${name('forcePathStyle')} must be a boolean, got '${String(o.forcePathStyle)}'`)
  if (o.region !== undefined && !/^[a-z0-9-]+$/i.test(o.region)) throw new OptionError(`${name('region')} must be a region name such as us-east-1, got '${String(o.region)}'`)
}

export async function createS3Client (o: S3ClientOptions = {}): Promise<S3Client> {
  const { S3Client } = await loadS3Sdk()
  const endpoint = o.endpoint ?? envEndpoint()
  const base = {
    ...(o.endpoint !== undefined ? { endpoint: o.endpoint } : {}),
    forcePathStyle: o.forcePathStyle ?? endpoint !== undefined,
    requestHandler: { connectionTimeout: 5000, requestTimeout: o.requestTimeoutMs ?? 0 }
  }
  if (o.region !== undefined) return new S3Client({ ...base, region: o.region })
  const client = new S3Client(base)
  try {
    await client.config.region()
    return client
  } catch {
    // No region anywhere in the chain: S3-compatible stores mostly ignore it, AWS redirects.
    client.destroy()
    return new S3Client({ ...base, region: 'us-east-1' })
  }
}
