#!/usr/bin/env node
// The `blackhole` command: one binary, one subcommand per job.
import { ArchiveError } from '../lib/archive/reader.js'
import { helpText, parseCommand, UsageError, type CommandSpec, type ParsedFlags } from './cli/args.js'
import { dumpSpec, runDump } from './cli/dump.js'
import { runVerify, verifySpec } from './cli/verify.js'
import { runServe, serveSpec } from './cli/serve.js'
import { replaySpec, runReplay } from './cli/replay.js'
import { exportSpec, runExport } from './cli/export.js'
import { importSpec, runImport } from './cli/import.js'
import { extractSpec, runExtract } from './cli/extract.js'
import { runStats, statsSpec } from './cli/stats.js'

interface Command {
  spec: CommandSpec
  run: (flags: ParsedFlags, positionals: string[]) => Promise<number>
}

const commands: Command[] = [
  { spec: serveSpec, run: runServe },
  { spec: replaySpec, run: runReplay },
  { spec: dumpSpec, run: runDump },
  { spec: verifySpec, run: runVerify },
  { spec: exportSpec, run: runExport },
  { spec: importSpec, run: runImport },
  { spec: extractSpec, run: runExtract },
  { spec: statsSpec, run: runStats }
]

function mainHelp (): string {
  const width = Math.max(...commands.map(c => c.spec.name.length)) + 2
  return [
    'Usage: blackhole COMMAND [flags] [args]',
    '',
    'An HTTP traffic sink and recorder (fastify-blackhole). Archives are blackhole-compatible',
    'LZ4 files of FlatBuffers records.',
    '',
    'Commands:',
    ...commands.map(c => `  ${c.spec.name.padEnd(width)}${c.spec.summary}`),
    '',
    'Run "blackhole COMMAND --help" for the flags of a command.',
    ''
  ].join('\n')
}

export async function main (argv: string[]): Promise<number> {
  const [name, ...rest] = argv
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(mainHelp())
    return name === undefined ? 2 : 0
  }
  const cmd = commands.find(c => c.spec.name === name)
  if (cmd === undefined) {
    process.stderr.write(`blackhole: unknown command '${name}' (try: ${commands.map(c => c.spec.name).join(', ')})\n`)
    return 2
  }
  try {
    const { flags, positionals } = parseCommand(cmd.spec, rest)
    if (flags.help === true) {
      process.stdout.write(helpText(cmd.spec))
      return 0
    }
    return await cmd.run(flags, positionals)
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`blackhole ${name}: ${err.message}\n`)
      return 2
    }
    if (err instanceof ArchiveError) {
      process.stderr.write(`blackhole ${name}: ${err.message}\n`)
      return 1
    }
    throw err
  }
}

const code = await main(process.argv.slice(2))
// `serve` keeps running (its exit code comes from the shutdown path); other commands end here.
if (code !== 0 || process.argv[2] !== 'serve') process.exitCode = code
