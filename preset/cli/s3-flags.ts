// Flags of the commands that read archives, for s3://bucket/prefix inputs. They only shape the
// command's sources object; the SDK loads, and the client is made, when an s3:// path is read.
import { archiveSources, type ArchiveSources } from '../../lib/archive/sources.js'
import { validateS3ClientOptions } from '../../lib/s3/client.js'
import { UsageError, type FlagSpec, type ParsedFlags } from './args.js'

export const s3ReadFlags: Record<string, FlagSpec> = {
  's3-endpoint': { type: 'string', arg: 'URL', env: 'BLACKHOLE_S3_ENDPOINT', help: 'for s3:// paths: endpoint of a non-AWS store; default: the AWS SDK\'s (AWS_ENDPOINT_URL_S3...)' },
  's3-force-path-style': { type: 'boolean', env: 'BLACKHOLE_S3_FORCE_PATH_STYLE', help: 'for s3:// paths: path-style requests (default: on with an endpoint)' }
}

/** Where the command reads its paths from: local files, and s3:// objects as its --s3-* flags say. */
export function readSources (flags: ParsedFlags): ArchiveSources {
  const o = {
    ...(typeof flags['s3-endpoint'] === 'string' ? { endpoint: flags['s3-endpoint'] } : {}),
    ...(typeof flags['s3-force-path-style'] === 'boolean' ? { forcePathStyle: flags['s3-force-path-style'] } : {})
  }
  try {
    validateS3ClientOptions(o, k => k === 'endpoint' ? '--s3-endpoint' : '--s3-force-path-style')
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
  return archiveSources(o)
}
