// The framework-free library: record codec, archive writer and reader, recovery, codecs.
export { ArchiveWriter, type ArchiveWriterOptions, type SealedFile, type WriterStats } from './archive-writer.js'
export {
  ArchiveError, readArchive, readFileRecords, listArchiveFiles, decodeRaw,
  type ArchiveRecord, type RawRecord, type ReadOptions, type FileSummary, type ArchiveErrorCode
} from './archive-reader.js'
export { recoverTmpFile, recoverTmpFiles, type RecoveryResult } from './recover.js'
export {
  decodeRequest, encodeRequest, PreparedRequest, RecordFormatError,
  type RequestRecord, type DecodedRequest
} from './record.js'
export { getCodec, CODEC_NAMES, type BlockCodec, type CodecName } from './codecs.js'
export { toJson, formatText, type RecordJson } from './dump.js'
export type { Logger } from './log.js'
export {
  toHarEntry, fromHarEntry, exportHar, HarStreamWriter, AtomicFileSink, HarEntryError, parseHeaderBlock, buildHeaderBlock,
  type Har, type HarEntry, type HarRequest, type HarResponse, type HarNameValue, type TextSink, type ExportOptions
} from './har.js'
export { exportJsonl, readJsonl, fromJsonObject, toJsonLine, JsonlLineError } from './jsonl.js'
export { importHar, importJsonl, ImportError, type ImportOptions, type ImportResult } from './import.js'
export { toHttpMessage, extractRecords, extractFileName, type HttpMessage, type ExtractResult } from './extract.js'
export { archiveStats, formatStats, StatsCollector, SizeHistogram, type ArchiveStats } from './archive-stats.js'
export { replay, ReplayError, type ReplayOptions, type ReplaySummary, type Pacing } from './replay.js'
