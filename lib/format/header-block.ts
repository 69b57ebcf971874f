// The header block as records store it: `Name: value\r\n` per field, in arrival order with
// duplicates and the original case, then `\r\n`. The one parser every reader of it uses.

export interface HeaderField {
  name: string
  value: string
}

/**
 * Splits a header block into fields, in order, duplicates kept. Lines end with CRLF (a bare LF
 * is accepted too); empty lines are skipped. The name is what comes before the first colon
 * (HTTP/2 pseudo-headers such as `:authority` keep their leading colon); the value loses the
 * spaces and tabs around it. A line without a colon is a field of that name with an empty
 * value, so that nothing recorded is lost on the way through.
 */
export function parseHeaderBlock (block: string): HeaderField[] {
  return headerLines(block).map(parseHeaderLine)
}

/**
 * The lines of a header block as stored, in order, without their line ends (CRLF or bare LF),
 * empty lines skipped: for a caller that must send a line's bytes as recorded.
 */
export function headerLines (block: string): string[] {
  const out: string[] = []
  let at = 0
  while (at < block.length) {
    let end = block.indexOf('\n', at)
    if (end === -1) end = block.length
    const line = block.slice(at, end > at && block.charCodeAt(end - 1) === 13 ? end - 1 : end)
    at = end + 1
    if (line.length > 0) out.push(line)
  }
  return out
}

/** One line of a header block (from headerLines) as a field, by the rule of parseHeaderBlock. */
export function parseHeaderLine (line: string): HeaderField {
  const colon = line.indexOf(':', line.charCodeAt(0) === 58 ? 1 : 0)
  return colon < 0 ? { name: line, value: '' } : { name: line.slice(0, colon), value: trimOws(line.slice(colon + 1)) }
}

/** The header block of a list of fields: `Name: value\r\n` each, then `\r\n`. */
export function buildHeaderBlock (fields: readonly HeaderField[]): string {
  let s = ''
  for (const h of fields) s += `${h.name}: ${h.value}\r\n`
  return s + '\r\n'
}

/** The first value of a field, by name in any case. */
export function headerValue (fields: readonly HeaderField[], name: string): string | undefined {
  const lower = name.toLowerCase()
  for (const h of fields) if (h.name.toLowerCase() === lower) return h.value
  return undefined
}

/** HTTP's optional whitespace (spaces and tabs) around a value. */
function trimOws (s: string): string {
  let a = 0
  let b = s.length
  while (a < b && (s.charCodeAt(a) === 32 || s.charCodeAt(a) === 9)) a++
  while (b > a && (s.charCodeAt(b - 1) === 32 || s.charCodeAt(b - 1) === 9)) b--
  return s.slice(a, b)
}
