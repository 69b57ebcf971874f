// Writing results into docs/benchmarks.md: each benchmark replaces only its own marked section
// (or its own part of one), so runs of different benchmarks do not overwrite each other.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { OUT_NAME, REPO } from './layout.js'

export const BENCHMARKS_DOC = path.join(REPO, 'docs/benchmarks.md')
/** The start of the file when a benchmark creates it. */
const INTRO = '# Benchmarks\n'

const startMarker = (name: string): string => `<!-- ${name}:start -->`
const endMarker = (name: string): string => `<!-- ${name}:end -->`
const block = (name: string, body: string): string => `${startMarker(name)}\n${body.trimEnd()}\n${endMarker(name)}`

/** The marked block `name` of `text`, markers included, or null. */
function findBlock (text: string, name: string): string | null {
  const i = text.indexOf(startMarker(name))
  const j = text.indexOf(endMarker(name))
  return i !== -1 && j > i ? text.slice(i, j + endMarker(name).length) : null
}

/**
 * Replaces the text between `<!-- NAME:start -->` and `<!-- NAME:end -->` in a markdown file.
 * A missing file is created from `intro`; missing markers are appended at the end.
 */
export function replaceDocSection (file: string, name: string, body: string, intro = INTRO): void {
  const start = startMarker(name)
  const end = endMarker(name)
  let text = existsSync(file) ? readFileSync(file, 'utf8') : intro.trimEnd() + '\n'
  const i = text.indexOf(start)
  const j = text.indexOf(end)
  if (i !== -1 && j > i) {
    text = text.slice(0, i) + block(name, body) + text.slice(j + end.length)
  } else {
    if (i !== -1 || j !== -1) throw new Error(`${file}: unbalanced ${name} markers`)
    text = text.trimEnd() + '\n\n' + block(name, body) + '\n'
  }
  mkdirSync(path.dirname(file), { recursive: true })
  writeFileSync(file, text)
}

/**
 * Rewrites the section `section` of a markdown file as `head` followed by its marked parts, in
 * the order given: a part with a body gets it; a part without (null: this run did not measure it)
 * keeps the text the file has, or a placeholder.
 */
export function replaceDocParts (file: string, section: string, head: string, parts: ReadonlyArray<readonly [string, string | null]>): void {
  const current = existsSync(file) ? readFileSync(file, 'utf8') : ''
  const sectionText = findBlock(current, section) ?? ''
  const blocks = parts.map(([name, body]) => body !== null ? block(name, body) : findBlock(sectionText, name) ?? block(name, '_Not measured yet._'))
  replaceDocSection(file, section, [head.trimEnd(), ...blocks].join('\n\n'))
}

/**
 * The docs lines that give the command of a run from the normal build, and which build this run
 * used when it was not the normal one.
 */
export function commandLines (command: string): string[] {
  return [
    'Command:',
    '',
    '```sh',
    'npm run build',
    command,
    '```',
    '',
    OUT_NAME === 'dist' ? 'This run: the command above.' : `This run was built into \`${OUT_NAME}/\` instead (\`npx tsc -p tsconfig.json --outDir ${OUT_NAME}\`); the commands here say \`dist/\`, the normal build.`
  ]
}
