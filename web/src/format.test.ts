import { describe, expect, it } from 'vitest'
import { formatBytes, formatDuration, formatNumber } from './format'

describe('format', () => {
  it.each([
    [0, '0 B'],
    [1023, '1023 B'],
    [1536, '1.5 kB'],
    [483312, '472 kB'],
    [5 * 1024 * 1024, '5.0 MB'],
    [3 * 1024 ** 3, '3.0 GB'],
    [-1, '—'],
  ])('bytes %d', (n, want) => expect(formatBytes(n)).toBe(want))

  it.each([
    [400, '0.4 s'],
    [12_300, '12 s'],
    [185_000, '3 min 05 s'],
    [3_720_000, '1 h 02 min'],
    [NaN, '—'],
  ])('duration %d', (ms, want) => expect(formatDuration(ms)).toBe(want))

  it('numbers', () => {
    expect(formatNumber(1234.567)).toBe('1,234.6')
    expect(formatNumber(2, 0)).toBe('2')
  })
})
