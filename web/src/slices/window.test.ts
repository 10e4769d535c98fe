import { describe, expect, it } from 'vitest'
import { isThin, patientMm, presetOf, range, windowOf, WINDOWS } from './window'

describe('windows', () => {
  it.each([
    ['soft', -160, 240],
    ['lung', -1350, 150],
    ['bone', -500, 1300],
    ['brain', 0, 80],
  ])('%s is %d..%d HU', (id, lo, hi) => {
    const w = WINDOWS.find((p) => p.id === id)!
    expect(range(w)).toEqual([lo, hi])
    expect(presetOf(lo, hi)?.id).toBe(id)
  })
  it('names no preset for a dragged window, and reads it back as W/L', () => {
    expect(presetOf(-100, 300)).toBeNull()
    expect(windowOf(-100, 300)).toEqual({ width: 400, level: 100 })
  })
})

describe('patientMm', () => {
  it('writes RAS+ millimetres in patient terms', () => {
    expect(patientMm([12.34, -40.06, 100])).toBe('R 12.3 P 40.1 S 100.0 mm')
    expect(patientMm([-5, 3, -7.25])).toBe('L 5.0 A 3.0 I 7.3 mm')
  })
})

describe('isThin', () => {
  it.each([
    [[512, 512, 20], [0.8, 0.8, 5], true], // a 100 mm slab of a 410 mm field
    [[512, 512, 300], [0.8, 0.8, 1.5], false], // chest–abdomen
    [[106, 81, 142], [3, 3, 3], false], // the shared 3 mm CT
    [[0, 1, 1], [1, 1, 1], false],
  ] as const)('%j at %j mm: %s', (dims, sp, want) => {
    expect(isThin(dims, sp)).toBe(want)
  })
})
