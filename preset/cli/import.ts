import { CODEC_NAMES, type CodecName } from '../../lib/format/codecs.js'
import { DEFAULT_MAX_HAR_BYTES, importHar, importJsonl, MAX_HAR_BYTES } from '../../lib/interchange/import.js'
import { sizeFlag, UsageError, type CommandSpec, type ParsedFlags } from './args.js'
import { out } from './output.js'

export const importSpec: CommandSpec = {
  name: 'import',
  summary: 'Turn a HAR file (e.g. saved from a browser) or JSON Lines into an archive that replays.',
  usage: 'import (--har FILE | --jsonl FILE) --out DIR [flags]',
  details: 'FILE "-" is stdin. The archive is written and sealed in a staging directory beside DIR and moved\n' +
    'into DIR only when every entry converted: on an error nothing is added to DIR. See docs/interchange.md.',
  flags: {
    har: { type: 'string', arg: 'FILE', help: 'read a HAR file (parsed whole, up to --max-har)' },
    jsonl: { type: 'string', arg: 'FILE', help: 'read JSON Lines (the dump --json / export --jsonl shape), line by line' },
    out: { type: 'string', short: 'o', arg: 'DIR', help: 'archive directory to add the files to (created, mode 0700)' },
    codec: { type: 'string', arg: 'NAME', default: 'auto', help: `archive codec: ${CODEC_NAMES.join(', ')}` },
    'max-har': { type: 'string', arg: 'BYTES', default: `${DEFAULT_MAX_HAR_BYTES >> 20}MiB`, help: `refuse larger HAR files (at most ${MAX_HAR_BYTES >> 20}MiB)` }
  }
}

export async function runImport (flags: ParsedFlags, positionals: string[]): Promise<number> {
  const har = flags.har as string | undefined
  const jsonl = flags.jsonl as string | undefined
  if ((har === undefined) === (jsonl === undefined)) throw new UsageError('give exactly one of --har FILE or --jsonl FILE')
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`)
  const outDir = flags.out as string | undefined
  if (outDir === undefined || outDir === '') throw new UsageError('--out DIR is required')
  const codec = String(flags.codec) as CodecName
  if (!CODEC_NAMES.includes(codec)) throw new UsageError(`--codec must be one of ${CODEC_NAMES.join(', ')}, got '${codec}'`)
  const maxHarBytes = sizeFlag('max-har', flags['max-har'], 1)
  if (maxHarBytes > MAX_HAR_BYTES) throw new UsageError(`--max-har must be at most ${MAX_HAR_BYTES >> 20}MiB, got '${String(flags['max-har'])}'`)
  try {
    const r = har !== undefined
      ? await importHar(har, outDir, { codec, maxHarBytes })
      : await importJsonl(jsonl as string, outDir, { codec })
    await out(`imported ${r.records} record(s) into ${r.dir}${r.files.length ? ': ' + r.files.join(', ') : ''}\n`)
    return 0
  } catch (err) {
    // Bad input (FST_BLACKHOLE_IMPORT), or the file system refusing (--out is a file, no
    // permission...): one line, exit 1. An error without a code is a bug: let it show.
    if (typeof (err as { code?: unknown }).code !== 'string') throw err
    process.stderr.write(`blackhole import: ${(err as Error).message}; nothing was written to ${outDir}\n`)
    return 1
  }
}
