/** Text formatting shared by the commands: sizes, rates, short peer ids, tables. */

export function humanBytes(bytes: number): string {
  const abs = Math.abs(bytes)
  const [div, unit] = abs >= 2 ** 30 ? [2 ** 30, 'GiB'] : abs >= 2 ** 20 ? [2 ** 20, 'MiB'] : abs >= 2 ** 10 ? [2 ** 10, 'KiB'] : [1, 'B']
  return `${(bytes / div).toFixed(div === 1 ? 0 : 1)} ${unit}`
}

/** A data rate in bytes/s, decimal units as link speeds are given: `3.6 MB/s`. */
export function humanRate(bytesPerSec: number): string {
  const abs = Math.abs(bytesPerSec)
  if (abs >= 1e9) return `${(bytesPerSec / 1e9).toFixed(1)} GB/s`
  if (abs >= 1e6) return `${(bytesPerSec / 1e6).toFixed(1)} MB/s`
  if (abs >= 1e3) return `${(bytesPerSec / 1e3).toFixed(0)} kB/s`
  return `${Math.round(bytesPerSec)} B/s`
}

/** The tail of a peer id: enough to tell members apart, short enough for a table. */
export function shortPeer(peer: string, chars = 8): string {
  return peer.length <= chars ? peer : `…${peer.slice(-chars)}`
}

export function percent(share: number): string {
  return `${Math.round(share * 100)}%`
}

/** Rows as aligned columns; the columns in `right` are right-aligned. */
export function table(rows: ReadonlyArray<readonly string[]>, right: ReadonlySet<number> = new Set()): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map(r => (r[i] ?? '').length))) ?? []
  return rows
    .map(
      r =>
        r
          .map((c, i) => (right.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
          .join('  ')
          .trimEnd() + '\n'
    )
    .join('')
}
