/**
 * How the operator CLI talks: progress lines go to stderr as it works; the result goes to stdout, as
 * a table for people or, with --json, as one JSON document for scripts.
 */
export interface Output {
  json: boolean
  progress: (message: string) => void
  result: (value: unknown, table?: () => string) => void
}

export function createOutput(
  json: boolean,
  stderr: NodeJS.WritableStream = process.stderr,
  stdout: NodeJS.WritableStream = process.stdout,
): Output {
  return {
    json,
    progress: (message) => void stderr.write(`▸ ${message}\n`),
    result: (value, table) => void stdout.write(json || !table ? `${JSON.stringify(value, null, 2)}\n` : `${table()}\n`),
  }
}

/** Rows as aligned columns, headed by their keys. */
export function table(rows: Record<string, unknown>[]): string {
  if (!rows.length) return '(none)'
  const columns = Object.keys(rows[0]!)
  const cell = (v: unknown) => (v === undefined || v === null ? '' : String(v))
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)))
  const line = (values: string[]) => values.map((v, i) => v.padEnd(widths[i]!)).join('  ').trimEnd()
  return [line(columns), ...rows.map((r) => line(columns.map((c) => cell(r[c]))))].join('\n')
}

/** A refusal the operator can fix (bad arguments, unknown ids): printed without a stack, exit code 2. */
export class UsageError extends Error {}
