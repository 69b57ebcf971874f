// Micro-benchmark of the archive core with realistic 2 KB JSON request records:
//   build     PreparedRequest written into a reused buffer, as ArchiveWriter.record does
//   compress  encodeBlocks over 1 MiB batches cut at record boundaries, per codec
//   write     ArchiveWriter end to end (append pre-built records, close) per codec
//   read      readArchive over the files written, every record decoded, per decoder
//
// Usage: node dist/test/bench/archive.js [--records N] [--rounds R] [--write-docs]
// Pin it to one CPU for stable numbers: taskset -c 0 node dist/test/bench/archive.js --write-docs
//
// Rates are medians over the measured rounds (after one warm-up round) with the min–max
// spread. MB = 1e6 bytes of the uncompressed record stream (u64 length prefix + record).
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { ArchiveWriter } from '../../lib/archive/writer.js'
import { readArchive, type ReadOptions } from '../../lib/archive/reader.js'
import { liblz4Codec, lz4jsCodec, lz4NapiCodec, type BlockCodec, type CodecName } from '../../lib/format/codecs.js'
import { prng } from '../../lib/replay/filter.js'
import { encodeBlocks } from '../../lib/format/lz4-frame.js'
import { encodeRequest, PreparedRequest, RecordTarget, type RequestRecord } from '../../lib/format/record.js'
import { BENCHMARKS_DOC, replaceDocSection } from './support/docs.js'
import { format3, formatBytes, formatInt, markdownTable, summaryCells } from './support/format.js'
import { allowedCpus, machineInfo, machineLines } from './support/machine.js'
import { intOption } from './support/options.js'
import { makeTempDir, removeTempDir } from './support/processes.js'
import { rates, summarize } from './support/statistics.js'
import { timeRounds } from './support/timing.js'

const BODY_BYTES = 2048
const DISTINCT_BODIES = 100
const BATCH_BYTES = 1 << 20
/** Appends pause while this much is queued in the writer, well under its 64 MiB drop limit. */
const PENDING_HIGH = 16 << 20
const PENDING_LOW = 4 << 20

// ---------------------------------------------------------------------------------------------
// Command line

interface Args { records: number, rounds: number, writeDocs: boolean }

function parseCli (argv: string[]): Args {
  const { values } = parseArgs({
    args: argv,
    options: {
      records: { type: 'string', default: '200000' },
      rounds: { type: 'string', default: '5' },
      'write-docs': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false }
    },
    strict: true
  })
  if (values.help) {
    process.stdout.write('Usage: node dist/test/bench/archive.js [--records N] [--rounds R] [--write-docs]\n')
    process.exit(0)
  }
  return { records: intOption(values, 'records', 1), rounds: intOption(values, 'rounds', 1), writeDocs: values['write-docs'] }
}

// ---------------------------------------------------------------------------------------------
// Realistic records: a deterministic generator, so every run measures the same bytes.

const FIRST = ['Anna', 'Ben', 'Chloé', 'David', 'Elena', 'Farid', 'Grace', 'Hiro', 'Ines', 'Jonas', 'Kemal', 'Lena', 'Marco', 'Nadia', 'Oskar', 'Priya', 'Quentin', 'Rosa', 'Sven', 'Tariq', 'Ursula', 'Victor', 'Wen', 'Yusuf', 'Zoe']
const LAST = ['Andersson', 'Becker', 'Costa', 'Dubois', 'Evans', 'Fischer', 'García', 'Horvat', 'Ivanova', 'Jensen', 'Kowalski', 'Lambert', 'Moreau', 'Novak', 'Okafor', 'Petrov', 'Rossi', 'Schmidt', 'Tanaka', 'Weber']
const PRODUCTS = ['Merino Wool Sweater', 'Trail Running Shoe', 'Waterproof Shell Jacket', 'Organic Cotton T-Shirt', 'Insulated Water Bottle', 'Leather Card Holder', 'Wireless Earbuds', 'Mechanical Keyboard', 'Ceramic Pour-Over Set', 'Canvas Backpack 24L', 'Linen Shirt', 'Yoga Mat Pro', 'Stainless Chef Knife', 'USB-C Charging Hub', 'Noise Cancelling Headphones', 'Bamboo Cutting Board']
const COLORS = ['BLK', 'WHT', 'NVY', 'GRN', 'RED', 'GRY', 'OLV', 'SND']
const SIZES = ['XS', 'S', 'M', 'L', 'XL', '38', '40', '42', '44', 'OS']
const CITIES = [['Berlin', 'DE', '10115'], ['Lyon', 'FR', '69002'], ['Milano', 'IT', '20121'], ['Austin', 'US', '78701'], ['Leeds', 'GB', 'LS1 4AP'], ['Kraków', 'PL', '31-042'], ['Osaka', 'JP', '530-0001'], ['Porto', 'PT', '4050-262']]
const STREETS = ['Hauptstraße', 'Rue de la République', 'Via Torino', 'Congress Ave', 'Briggate', 'Floriańska', 'Midosuji', 'Rua das Flores']
const WORDS = ['please', 'leave', 'parcel', 'with', 'neighbour', 'gift', 'wrap', 'no', 'invoice', 'in', 'box', 'deliver', 'after', '6pm', 'call', 'on', 'arrival', 'fragile', 'handle', 'care', 'thanks', 'door', 'code', 'back', 'entrance']
const CHANNELS = ['web', 'ios', 'android', 'pos']
const USER_AGENTS = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15',
  'Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0',
  'okhttp/4.12.0',
  'ShopApp/5.31.2 (iPhone; iOS 17.5.1; Scale/3.00)'
]

function pick<T> (rnd: () => number, list: readonly T[]): T {
  return list[Math.floor(rnd() * list.length)]
}

function hex (rnd: () => number, n: number): string {
  let s = ''
  for (let i = 0; i < n; i++) s += Math.floor(rnd() * 16).toString(16)
  return s
}

function uuid (rnd: () => number): string {
  return `${hex(rnd, 8)}-${hex(rnd, 4)}-4${hex(rnd, 3)}-${'89ab'[Math.floor(rnd() * 4)]}${hex(rnd, 3)}-${hex(rnd, 12)}`
}

/** One order-like JSON document of exactly `size` bytes (UTF-8). */
function makeBody (rnd: () => number, size: number): Buffer {
  const [city, country, zip] = pick(rnd, CITIES)
  const first = pick(rnd, FIRST)
  const last = pick(rnd, LAST)
  const customerId = 100000 + Math.floor(rnd() * 900000)
  const doc: Record<string, unknown> = {
    orderId: `ord-${Math.floor(rnd() * 1e9).toString().padStart(9, '0')}`,
    channel: pick(rnd, CHANNELS),
    createdAt: new Date(Date.UTC(2024, Math.floor(rnd() * 12), 1 + Math.floor(rnd() * 28), Math.floor(rnd() * 24), Math.floor(rnd() * 60), Math.floor(rnd() * 60))).toISOString(),
    customer: {
      id: customerId,
      name: `${first} ${last}`,
      email: `${first.toLowerCase().normalize('NFD').replace(/[^a-z]/g, '')}.${last.toLowerCase().normalize('NFD').replace(/[^a-z]/g, '')}${Math.floor(rnd() * 100)}@example.com`,
      loyaltyTier: pick(rnd, ['none', 'silver', 'gold', 'platinum']),
      marketingOptIn: rnd() < 0.4
    },
    shipping: {
      method: pick(rnd, ['standard', 'express', 'pickup']),
      address: { line1: `${pick(rnd, STREETS)} ${1 + Math.floor(rnd() * 180)}`, city, postalCode: zip, country },
      priceCents: [0, 490, 990, 1490][Math.floor(rnd() * 4)]
    },
    items: [] as unknown[],
    payment: { provider: pick(rnd, ['card', 'paypal', 'klarna', 'applepay']), last4: String(Math.floor(rnd() * 10000)).padStart(4, '0'), currency: country === 'US' ? 'USD' : country === 'GB' ? 'GBP' : country === 'JP' ? 'JPY' : 'EUR' },
    notes: ''
  }
  const items = doc.items as unknown[]
  const encoded = (): number => Buffer.byteLength(JSON.stringify(doc))
  for (;;) {
    const product = pick(rnd, PRODUCTS)
    items.push({
      sku: `SKU-${10000 + Math.floor(rnd() * 90000)}-${pick(rnd, COLORS)}-${pick(rnd, SIZES)}`,
      productId: 1000 + Math.floor(rnd() * 9000),
      name: product,
      quantity: 1 + Math.floor(rnd() * 4),
      unitPrice: Math.round((5 + rnd() * 295) * 100) / 100,
      discount: rnd() < 0.3 ? Math.round(rnd() * 25) / 100 : 0,
      inStock: rnd() < 0.9
    })
    if (encoded() > size - 40) {
      items.pop()
      break
    }
  }
  // Fill up to the exact size with a free-text note (ASCII, so one byte per char).
  let notes = ''
  while (encoded() + notes.length < size) notes += (notes ? ' ' : '') + pick(rnd, WORDS)
  doc.notes = notes.slice(0, size - encoded())
  const out = Buffer.from(JSON.stringify(doc))
  if (out.length !== size) throw new Error(`body is ${out.length} bytes, wanted ${size}`)
  return out
}

function makeRecords (n: number): { inputs: RequestRecord[], bodies: Buffer[] } {
  const rnd = prng(0x5EED)
  const bodies = Array.from({ length: DISTINCT_BODIES }, () => makeBody(rnd, BODY_BYTES))
  const clients = Array.from({ length: 64 }, () => ({
    ip: `10.${Math.floor(rnd() * 256)}.${Math.floor(rnd() * 256)}.${1 + Math.floor(rnd() * 254)}`,
    ua: pick(rnd, USER_AGENTS),
    token: Buffer.from(hex(rnd, 48), 'hex').toString('base64url'),
    session: hex(rnd, 32)
  }))
  const t0 = 1_718_000_000_000_000_000n
  const inputs: RequestRecord[] = []
  for (let i = 0; i < n; i++) {
    const c = clients[Math.floor(rnd() * clients.length)]
    const id = uuid(rnd)
    const body = bodies[i % DISTINCT_BODIES]
    const uri = `/api/v2/orders?customer=${100000 + Math.floor(rnd() * 900000)}&source=${pick(rnd, CHANNELS)}&validate=true&trace=${hex(rnd, 8)}`
    const headers =
      'Host: shop-api.example.com\r\n' +
      `User-Agent: ${c.ua}\r\n` +
      'Accept: application/json\r\n' +
      'Accept-Encoding: gzip, deflate, br\r\n' +
      'Accept-Language: en-US,en;q=0.9\r\n' +
      'Content-Type: application/json; charset=utf-8\r\n' +
      `Content-Length: ${body.length}\r\n` +
      `Authorization: Bearer ${c.token}\r\n` +
      `Cookie: sid=${c.session}; consent=1\r\n` +
      `X-Request-ID: ${id}\r\n` +
      `X-Forwarded-For: ${c.ip}\r\n` +
      'Connection: keep-alive\r\n\r\n'
    inputs.push({
      id,
      method: 'POST',
      uri,
      headers,
      body,
      timeNs: t0 + BigInt(i) * 9_871n + BigInt(Math.floor(rnd() * 5000)),
      remoteAddr: c.ip,
      remotePort: 1024 + Math.floor(rnd() * 64000),
      httpVersion: '1.1'
    })
  }
  return { inputs, bodies }
}

/** The record stream as the writer lays it out: u64 LE length, then the record. */
function toStream (records: readonly Uint8Array[]): Buffer {
  const total = records.reduce((s, r) => s + 8 + r.length, 0)
  const out = Buffer.allocUnsafe(total)
  let at = 0
  for (const r of records) {
    out.writeBigUInt64LE(BigInt(r.length), at)
    out.set(r, at + 8)
    at += 8 + r.length
  }
  return out
}

/** Cuts the stream into batches of at most BATCH_BYTES at record boundaries, as the writer does. */
function toBatches (records: readonly Uint8Array[], stream: Buffer): Buffer[] {
  const batches: Buffer[] = []
  let start = 0
  let at = 0
  for (const r of records) {
    const need = 8 + r.length
    if (at + need - start > BATCH_BYTES && at > start) {
      batches.push(stream.subarray(start, at))
      start = at
    }
    at += need
    if (at - start >= BATCH_BYTES) {
      batches.push(stream.subarray(start, at))
      start = at
    }
  }
  if (at > start) batches.push(stream.subarray(start, at))
  return batches
}

// ---------------------------------------------------------------------------------------------
// Results

interface Row {
  stage: string
  case: string
  records: number
  /** Uncompressed record-stream bytes per round. */
  bytes: number
  times: number[]
  note: string
}

const rows: Row[] = []

function report (row: Row): void {
  rows.push(row)
  const r = summarize(rates(row.records, row.times))
  const m = summarize(rates(row.bytes / 1e6, row.times))
  process.stderr.write(`  ${row.stage.padEnd(8)} ${row.case.padEnd(30)} ${formatInt(r.median).padStart(10)} rec/s  ${format3(m.median).padStart(7)} MB/s  (${formatInt(r.min)}–${formatInt(r.max)})  ${row.note}\n`)
}

function table (): string {
  const header = ['Stage', 'Case', 'records/s (median)', 'records/s (min–max)', 'MB/s (median)', 'MB/s (min–max)', 'Notes']
  const body = rows.map(row => {
    const [rMed, rSpread] = summaryCells(summarize(rates(row.records, row.times)), formatInt)
    const [mMed, mSpread] = summaryCells(summarize(rates(row.bytes / 1e6, row.times)), v => v.toFixed(1))
    return [row.stage, row.case, rMed, rSpread, mMed, mSpread, row.note]
  })
  return markdownTable(header, body, ['l', 'l', 'r', 'r', 'r', 'r', 'l'])
}

// ---------------------------------------------------------------------------------------------
// Stages

const codecs: Array<[string, BlockCodec]> = [['lz4js', lz4jsCodec]]
if (lz4NapiCodec !== null) codecs.push(['lz4-napi', lz4NapiCodec])
if (liblz4Codec !== null) codecs.push(['liblz4', liblz4Codec])

async function benchBuild (inputs: readonly RequestRecord[], streamBytes: number, rounds: number): Promise<void> {
  // Records go one after another into a 1 MiB buffer that is reused, as in a writer's batch.
  const out = Buffer.allocUnsafe(1 << 20)
  const target = new RecordTarget()
  let bytes = 0
  const times = await timeRounds({
    rounds,
    before: () => { bytes = 0 },
    after: () => {
      if (bytes + 8 * inputs.length !== streamBytes) throw new Error(`build: ${bytes} bytes, expected ${streamBytes - 8 * inputs.length}`)
    }
  }, () => {
    let at = 0
    for (let i = 0; i < inputs.length; i++) {
      const p = new PreparedRequest(inputs[i])
      if (at + p.size > out.length) at = 0
      const n = p.writeTo(out, at, target)
      at += n
      bytes += n
    }
  })
  report({ stage: 'build', case: 'PreparedRequest.writeTo (in place, as ArchiveWriter.record)', records: inputs.length, bytes: streamBytes, times, note: `mean record ${format3(streamBytes / inputs.length - 8)} B + 8 B length` })
}

async function benchCompress (records: readonly Uint8Array[], stream: Buffer, rounds: number): Promise<void> {
  const batches = toBatches(records, stream)
  for (const [name, codec] of codecs) {
    let packed = 0
    const times = await timeRounds({ rounds, before: () => { packed = 0 } }, () => {
      for (const b of batches) packed += encodeBlocks(codec, b, true).length
    })
    report({
      stage: 'compress',
      case: `encodeBlocks ${name}, ${batches.length} × ≤1 MiB`,
      records: records.length,
      bytes: stream.length,
      times,
      note: `ratio ${(stream.length / packed).toFixed(2)}:1 (${formatBytes(packed)}), block xxh32 included`
    })
  }
}

async function waitPending (w: ArchiveWriter): Promise<void> {
  while (w.stats().pendingBytes > PENDING_LOW) await new Promise<void>(resolve => setImmediate(resolve))
}

async function benchWrite (records: readonly Uint8Array[], streamBytes: number, rounds: number, root: string): Promise<Map<string, string>> {
  const kept = new Map<string, string>()
  for (const name of ['lz4js', 'lz4-napi', 'liblz4', 'none'] as CodecName[]) {
    if ((name === 'lz4-napi' && lz4NapiCodec === null) || (name === 'liblz4' && liblz4Codec === null)) continue
    let dir = ''
    let writer: ArchiveWriter | null = null
    const times = await timeRounds({
      rounds,
      before: async () => {
        dir = mkdtempSync(path.join(root, `write-${name}-`))
        writer = new ArchiveWriter({ dir, codec: name })
        await writer.ready()
      },
      after: (round) => {
        const s = writer!.stats()
        if (s.recordsWritten !== records.length || s.recordsDropped !== 0) {
          throw new Error(`write ${name}: ${s.recordsWritten} records written, ${s.recordsDropped} dropped, of ${records.length}`)
        }
        // Keep the last round's files for the read stage.
        if (round === rounds - 1) kept.set(name, dir)
        else rmSync(dir, { recursive: true, force: true })
      }
    }, async () => {
      const w = writer!
      for (let i = 0; i < records.length; i++) {
        w.append(records[i])
        if ((i & 63) === 63 && w.stats().pendingBytes > PENDING_HIGH) await waitPending(w)
      }
      await w.close()
    })
    const dirOut = kept.get(name)!
    const files = readdirSync(dirOut)
    const onDisk = files.reduce((s, f) => s + statSync(path.join(dirOut, f)).size, 0)
    report({
      stage: 'write',
      case: `ArchiveWriter codec ${name}`,
      records: records.length,
      bytes: streamBytes,
      times,
      note: `${files.length} file(s), ${formatBytes(onDisk)} on disk${name === 'none' ? '' : `, ratio ${(streamBytes / onDisk).toFixed(2)}:1`}`
    })
  }
  return kept
}

async function benchRead (dirs: Map<string, string>, n: number, streamBytes: number, rounds: number): Promise<void> {
  const cases: Array<[string, string, ReadOptions, string]> = []
  for (const written of ['lz4js', 'lz4-napi', 'liblz4']) {
    const dir = dirs.get(written)
    if (dir === undefined) continue
    for (const [name, codec] of codecs) cases.push([`.fbf.lz4 (written by ${written}), decoder ${name}`, dir, { codec }, 'content xxh32 verified'])
  }
  const raw = dirs.get('none')
  if (raw !== undefined) cases.push(['.fbf (raw), no decoder', raw, {}, 'no checksums in raw files'])
  for (const [label, dir, opts, note] of cases) {
    let count = 0
    let bodyBytes = 0
    const times = await timeRounds({
      rounds,
      before: () => { count = 0; bodyBytes = 0 },
      after: () => {
        if (count !== n || bodyBytes !== n * BODY_BYTES) throw new Error(`read ${label}: ${count} records, ${bodyBytes} body bytes`)
      }
    }, async () => {
      for await (const r of readArchive(dir, opts)) {
        count++
        bodyBytes += r.body.length
      }
    })
    report({ stage: 'read', case: label, records: n, bytes: streamBytes, times, note })
  }
}

// ---------------------------------------------------------------------------------------------

function packageVersion (name: string): string {
  // Some packages (lz4-napi) do not export their package.json: find it above the entry point.
  try {
    let dir = path.dirname(createRequire(import.meta.url).resolve(name))
    for (;;) {
      const file = path.join(dir, 'package.json')
      if (existsSync(file)) {
        const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string, version?: string }
        if (pkg.name === name && pkg.version !== undefined) return pkg.version
      }
      const up = path.dirname(dir)
      if (up === dir) return 'unknown'
      dir = up
    }
  } catch {
    return 'not installed'
  }
}

/** The command that reproduces this run from the normal build (`npm run build`, output in dist/). */
function reproCommand (argv: readonly string[]): string {
  const cpus = allowedCpus()
  const pin = cpus !== null && /^\d+$/.test(cpus) ? `taskset -c ${cpus} ` : ''
  return `${pin}node dist/test/bench/archive.js${argv.length ? ' ' + argv.join(' ') : ''}`
}

async function main (): Promise<void> {
  const argv = process.argv.slice(2)
  const args = parseCli(argv)
  const started = Date.now()
  const loadBefore = os.loadavg()[0]
  process.stderr.write(`archive bench: ${args.records} records, ${args.rounds} rounds (+1 warm-up)\n`)

  const { inputs } = makeRecords(args.records)
  // The pre-built records for the later stages: one untimed build, laid out as a record stream;
  // the records are views into it, so they are not hundreds of thousands of separate buffers.
  const stream = toStream(inputs.map(r => encodeRequest(r)))
  const streamBytes = stream.length
  const records: Uint8Array[] = []
  for (let at = 0; at < stream.length;) {
    const len = Number(stream.readBigUInt64LE(at))
    records.push(stream.subarray(at + 8, at + 8 + len))
    at += 8 + len
  }
  process.stderr.write(`record stream: ${formatBytes(streamBytes)} (${format3(streamBytes / args.records)} B per record)\n`)

  await benchBuild(inputs, streamBytes, args.rounds)
  await benchCompress(records, stream, args.rounds)

  const root = makeTempDir('fbh-bench-')
  try {
    const dirs = await benchWrite(records, streamBytes, args.rounds, root)
    await benchRead(dirs, args.records, streamBytes, args.rounds)
  } finally {
    removeTempDir(root)
  }
  const elapsed = (Date.now() - started) / 1000
  const loadAfter = os.loadavg()[0]
  process.stderr.write(`done in ${elapsed.toFixed(0)} s\n`)

  const t = table()
  process.stdout.write(t)

  if (args.writeDocs) {
    const m = machineInfo()
    const body = [
      '### Archive core (`test/bench/archive.ts`)',
      '',
      'Command (after `npm run build`):',
      '',
      '```sh',
      reproCommand(argv),
      '```',
      '',
      ...machineLines(m),
      `- lz4js ${packageVersion('lz4js')}, lz4-napi ${packageVersion('lz4-napi')}, lz4 (liblz4 binding) ${packageVersion('lz4')}`,
      `- Workload: ${formatInt(args.records)} POST records (12 header lines, a URI with a query, a ${BODY_BYTES} B JSON order body rotating among ${DISTINCT_BODIES} distinct ones); record stream ${formatBytes(streamBytes)}, ${format3(streamBytes / args.records)} B per record with its 8 B length`,
      `- ${args.rounds} measured rounds after 1 warm-up round, full GC before each; median and min–max of the per-round rates; whole run ${elapsed.toFixed(0)} s; 1-minute load average ${loadBefore.toFixed(2)} at the start, ${loadAfter.toFixed(2)} at the end (other processes on the machine widen the spread)`,
      '- MB = 10^6 bytes of the uncompressed record stream (length prefixes included), for every stage, compressed ones too',
      '- write: default options (1 MiB batches, content checksum, no block checksums, no fsync) into the OS temp directory, so it measures the page cache, not the disk; appends pause while more than 16 MiB is queued',
      '- read: `readArchive` over the files the last write round produced, every record decoded (`decodeRequest`), checksums verified',
      '',
      t
    ].join('\n')
    replaceDocSection(BENCHMARKS_DOC, 'archive-bench', body, BENCH_INTRO)
    process.stderr.write(`updated ${BENCHMARKS_DOC}\n`)
  }
}

const BENCH_INTRO = `# Benchmarks

Micro-benchmarks of fastify-blackhole's parts. They live in \`test/bench/\`, are compiled with the
rest of \`test/\` by \`npm run build\`, and are not part of \`npm test\`. Each one prints a markdown
table and, with \`--write-docs\`, replaces its own section below. Numbers are from one machine
and one run: compare rows within a section, not with other machines.
`

await main()
