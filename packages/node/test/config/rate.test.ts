import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { formatRate, parseRate } from '../../src/config/rate.ts'

describe('parseRate', () => {
  it('reads bits the way ISPs and tc write them, bytes the way file sizes are written', () => {
    assert.equal(parseRate('100mbit'), 12_500_000)
    assert.equal(parseRate('100 Mbps'), 12_500_000)
    assert.equal(parseRate('32Mbit/s'), 4_000_000)
    assert.equal(parseRate('1gbit'), 125_000_000)
    assert.equal(parseRate('512kbit'), 64_000)
    assert.equal(parseRate('4MB/s'), 4_000_000)
    assert.equal(parseRate('12.5 MB'), 12_500_000)
    assert.equal(parseRate('1MiB/s'), 1_048_576)
    assert.equal(parseRate('12500000'), 12_500_000)
  })

  it('refuses what is not a rate, ambiguous units and zero, naming the problem', () => {
    assert.throws(() => parseRate('fast'), /not a rate/)
    assert.throws(() => parseRate('10 mb'), /"mb" .* not a unit/)
    assert.throws(() => parseRate('10 furlongs'), /not a unit/)
    assert.throws(() => parseRate('0mbit'), /positive/)
    assert.throws(() => parseRate('-5MB'), /not a rate/)
  })
})

describe('formatRate', () => {
  it('gives bytes and bits', () => {
    assert.equal(formatRate(4_000_000), '4 MB/s (32 Mbit/s)')
    assert.equal(formatRate(12_500_000), '12.5 MB/s (100 Mbit/s)')
    assert.equal(formatRate(125_000), '125 kB/s (1 Mbit/s)')
  })
})
