// s3:// URLs as the CLI and the plugin accept them: `s3://bucket` or `s3://bucket/prefix`.
// Kept free of the AWS SDK so that recognising a URL costs nothing.
import { isArchiveName } from '../format/archive-name.js'
import { OptionError } from '../errors.js'

export interface S3Location {
  bucket: string
  /** Key prefix: empty, or ending with `/` unless it names one object. */
  prefix: string
}

export function isS3Url (s: string): boolean {
  return /^s3:\/\//i.test(s)
}

/**
 * Parses `s3://bucket/prefix`. The prefix is made to end with `/` so that `s3://b/rec` never
 * takes in `rec2/...`, except when it names an archive object itself (`...fbf.lz4`, `...fbf`).
 */
export function parseS3Url (url: string, what = 'URL'): S3Location {
  const m = /^s3:\/\/([^/]+)(?:\/(.*))?$/i.exec(url)
  if (m === null) throw new OptionError(`${what} must look like s3://bucket/prefix, got '${url}'`)
  const bucket = m[1]
  // Loose on purpose: S3-compatible stores differ, but no store accepts these.
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{1,254}$/.test(bucket)) throw new OptionError(`${what}: '${bucket}' is not a bucket name`)
  let prefix = (m[2] ?? '').replace(/\/{2,}/g, '/')
  if (prefix.startsWith('/')) prefix = prefix.slice(1)
  if (prefix !== '' && !prefix.endsWith('/') && !isArchiveName(prefix)) prefix += '/'
  return { bucket, prefix }
}

export function s3Url (bucket: string, key: string): string {
  return `s3://${bucket}/${key}`
}
