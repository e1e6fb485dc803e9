/**
 * Data rates as operators write them. Bits for `bit`, `kbit`, `Mbit`, `Gbit` and the ISP
 * spelling `kbps`, `Mbps`, `Gbps`; bytes for `B`, `kB`/`KB`, `MB`, `GB` (powers of 1000) and
 * `KiB`, `MiB`, `GiB` (powers of 1024); an optional `/s`; a bare number is bytes/s. `mb` and
 * `gb` in lower case could be either and are refused.
 */
const UNITS: Readonly<Record<string, number>> = {
  bit: 1 / 8,
  kbit: 125,
  mbit: 125_000,
  gbit: 125_000_000,
  bps: 1 / 8,
  kbps: 125,
  mbps: 125_000,
  gbps: 125_000_000,
  B: 1,
  kB: 1_000,
  KB: 1_000,
  MB: 1_000_000,
  GB: 1_000_000_000,
  KiB: 1024,
  MiB: 1024 ** 2,
  GiB: 1024 ** 3
}

/** Bytes/s for a rate such as `40mbit`, `100 Mbps`, `5MB/s`, `12500000`; throws RangeError naming the problem. */
export function parseRate(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*(?:\/\s*s)?\s*$/.exec(text)
  if (m === null) throw new RangeError(`"${text}" is not a rate: write e.g. 40mbit, 100 Mbps, 5MB/s or a number of bytes/s`)
  const value = Number(m[1])
  const unit = m[2] ?? ''
  let factor: number | undefined
  if (unit === '') factor = 1
  else if (/bit$|bps$/i.test(unit)) factor = UNITS[unit.toLowerCase()]
  else factor = UNITS[unit]
  if (factor === undefined)
    throw new RangeError(
      `"${unit}" in "${text}" is not a unit of rate: use bit, kbit, Mbit, Gbit (or kbps, Mbps, Gbps) for bits, B, kB, MB, GB, KiB, MiB, GiB for bytes`
    )
  const bytes = Math.round(value * factor)
  if (!(bytes > 0)) throw new RangeError(`"${text}" is not a positive rate`)
  return bytes
}

/** `4 MB/s (32 Mbit/s)`. */
export function formatRate(bytesPerSec: number): string {
  const bytes =
    bytesPerSec >= 1e9 ? `${round(bytesPerSec / 1e9)} GB/s` : bytesPerSec >= 1e6 ? `${round(bytesPerSec / 1e6)} MB/s` : `${round(bytesPerSec / 1e3)} kB/s`
  const bits = bytesPerSec * 8
  const b = bits >= 1e9 ? `${round(bits / 1e9)} Gbit/s` : bits >= 1e6 ? `${round(bits / 1e6)} Mbit/s` : `${round(bits / 1e3)} kbit/s`
  return `${bytes} (${b})`
}

function round(x: number): string {
  return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1).replace(/\.0$/, '') : x.toFixed(2).replace(/\.?0+$/, '')
}
