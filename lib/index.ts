// The framework-free library: record codec, archive writer and reader, recovery, codecs.
export { ArchiveWriter, type ArchiveWriterOptions, type SealedFile, type WriterStats } from './archive/writer.js'
export {
  ArchiveError, readArchive, readFileRecords, listArchiveFiles, decodeRaw,
  type ArchiveRecord, type RawRecord, type ReadOptions, type FileSummary, type ArchiveErrorCode, type ArchiveErrorKind
} from './archive/reader.js'
export { recoverTmpFile, recoverTmpFiles, type RecoveryResult } from './archive/recover.js'
export {
  decodeRequest, encodeRequest, PreparedRequest, RecordFormatError,
  type RequestRecord, type DecodedRequest
} from './format/record.js'
export { getCodec, CODEC_NAMES, type BlockCodec, type CodecName } from './format/codecs.js'
export { toJson, formatText, type RecordJson } from './interchange/dump.js'
export type { Logger } from './log.js'
export { toHarEntry, fromHarEntry, exportHar, HarStreamWriter, type ExportOptions } from './interchange/har.js'
export type { Har, HarEntry, HarRequest, HarResponse, HarNameValue } from './interchange/har-types.js'
export { parseHeaderBlock, buildHeaderBlock } from './format/header-block.js'
export { AtomicFileSink, type TextSink } from './interchange/atomic-file.js'
export { exportJsonl, readJsonl, fromJsonObject, toJsonLine } from './interchange/jsonl.js'
export { importHar, importJsonl, type ImportOptions, type ImportResult } from './interchange/import.js'
export { ImportError, HarEntryError, JsonlLineError } from './errors.js'
export { toHttpMessage, extractRecords, extractFileName, type HttpMessage, type ExtractResult } from './interchange/extract.js'
export { archiveStats, formatStats, StatsCollector, SizeHistogram, type ArchiveStats } from './interchange/stats.js'
export { replay, ReplayError, type ReplayOptions, type ReplaySummary, type Pacing } from './replay/replay.js'
