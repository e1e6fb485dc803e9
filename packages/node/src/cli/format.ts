/** Text formatting shared by the commands: sizes, rates, short peer ids, tables. */

export function humanBytes (bytes: number): string {
  const abs = Math.abs(bytes)
  const [div, unit] = abs >= 2 ** 30 ? [2 ** 30, 'GiB'] : abs >= 2 ** 20 ? [2 ** 20, 'MiB'] : abs >= 2 ** 10 ? [2 ** 10, 'KiB'] : [1, 'B']
  return `${(bytes / div).toFixed(div === 1 ? 0 : 1)} ${unit}`
}

/** The tail of a peer id: enough to tell members apart, short enough for a table. */
export function shortPeer (peer: string, chars = 8): string {
  return peer.length <= chars ? peer : `…${peer.slice(-chars)}`
}

export function percent (share: number): string {
  return `${Math.round(share * 100)}%`
}

/** Rows as aligned columns; the columns in `right` are right-aligned. */
export function table (rows: ReadonlyArray<readonly string[]>, right: ReadonlySet<number> = new Set()): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map(r => (r[i] ?? '').length))) ?? []
  return rows.map(r => r.map((c, i) => right.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)).join('  ').trimEnd() + '\n').join('')
}
