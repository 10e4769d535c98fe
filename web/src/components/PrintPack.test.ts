import { describe as suite, expect, it } from 'vitest'
import { describe, settingsFrom } from './PrintPack'

suite('settingsFrom', () => {
  it.each([
    [{ smooth: 0.5, budget: 200000, pieces: 'min' as const, minMl: 1, labels: [5, 1] }, { smooth: 0.5, maxTriangles: 200000, minPieceMl: 1, largestPieceOnly: false, labels: [1, 5] }],
    [{ smooth: 2, budget: 0, pieces: 'largest' as const, minMl: 3, labels: [] }, { smooth: 1, maxTriangles: 0, minPieceMl: 0, largestPieceOnly: true, labels: [] }],
    [{ smooth: -1, budget: 1234.6, pieces: 'all' as const, minMl: 3, labels: [10, 2] }, { smooth: 0, maxTriangles: 1235, minPieceMl: 0, largestPieceOnly: false, labels: [2, 10] }],
  ])('%o', (form, want) => {
    expect(settingsFrom(form)).toEqual(want)
  })
})

suite('describe', () => {
  it('says what an export was made with', () => {
    expect(describe({ smooth: 0.5, maxTriangles: 200000, minPieceMl: 1, largestPieceOnly: false, labels: [] }, 41)).toBe(
      '41 organs · smoothing 0.50 · 200,000 triangles · pieces under 1 mL dropped',
    )
    expect(describe({ smooth: 0, maxTriangles: 0, minPieceMl: 0, largestPieceOnly: true, labels: [5] }, 41)).toBe(
      '1 organ · smoothing 0.00 · 10 % of the triangles · largest piece only',
    )
  })
})
