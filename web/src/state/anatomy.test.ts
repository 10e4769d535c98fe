import { describe, expect, it } from 'vitest'
import type { ManifestOrgan } from '../api/types'
import { compareAnatomical, displayColor, engineNote, formatSize, GENERIC_ANATOMY_COLORS, sizeMm } from './anatomy'

const o = (name: string, displayName = name, color = '#123456'): ManifestOrgan => ({
  label: 1,
  name,
  displayName,
  system: 'skeleton',
  color,
  voxelCount: 1,
  voxelVolumeMl: 1,
  meshVolumeMl: 1,
  surfaceAreaCm2: 1,
  triangles: 1,
  bboxMm: { min: [-10, 20, -300], max: [110.4, 105, -160] },
  touchesBorder: false,
  partial: false,
  files: {},
})

const sorted = (names: string[]) => names.map((n) => o(n)).sort(compareAnatomical).map((x) => x.name)

describe('compareAnatomical', () => {
  it('orders ribs by number, not as text', () => {
    expect(sorted(['rib_left_10', 'rib_left_7', 'rib_left_12', 'rib_left_8', 'rib_left_11', 'rib_left_9'])).toEqual([
      'rib_left_7', 'rib_left_8', 'rib_left_9', 'rib_left_10', 'rib_left_11', 'rib_left_12',
    ])
  })
  it('orders the spine head to feet: C, T, L, S', () => {
    expect(sorted(['vertebrae_L1', 'vertebrae_S1', 'vertebrae_T12', 'vertebrae_C7', 'vertebrae_T2', 'vertebrae_C1', 'vertebrae_L5'])).toEqual([
      'vertebrae_C1', 'vertebrae_C7', 'vertebrae_T2', 'vertebrae_T12', 'vertebrae_L1', 'vertebrae_L5', 'vertebrae_S1',
    ])
  })
  it('puts the right side before the left, and structures head to feet', () => {
    expect(sorted(['femur_left', 'kidney_left', 'liver', 'kidney_right', 'brain', 'unknown_thing'])).toEqual([
      'brain', 'liver', 'kidney_right', 'kidney_left', 'femur_left', 'unknown_thing',
    ])
  })
  it('falls back to natural order of display names', () => {
    const list = [o('label_10', 'Label 10'), o('label_9', 'Label 9'), o('label_100', 'Label 100')].sort(compareAnatomical)
    expect(list.map((x) => x.displayName)).toEqual(['Label 9', 'Label 10', 'Label 100'])
  })
})

describe('displayColor', () => {
  it('gives the solid abdominal organs distinct colours (TotalSegmentator paints them all green)', () => {
    const cols = ['liver', 'spleen', 'pancreas', 'gallbladder'].map((n) => displayColor(o(n)))
    expect(new Set(cols).size).toBe(4)
    // Pairwise apart by more than a glance: sum of channel differences > 60.
    const rgb = (h: string) => [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16))
    for (let i = 0; i < cols.length; i++)
      for (let j = i + 1; j < cols.length; j++) {
        const [a, b] = [rgb(cols[i]), rgb(cols[j])]
        expect(a.reduce((s, v, k) => s + Math.abs(v - b[k]), 0)).toBeGreaterThan(60)
      }
  })
  it('keeps the manifest colour for a structure the table does not name', () => {
    expect(displayColor(o('rib_left_3', 'Left rib 3', '#abcdef'))).toBe('#abcdef')
  })
  it('has only well-formed colours', () => {
    for (const c of Object.values(GENERIC_ANATOMY_COLORS)) expect(c).toMatch(/^#[0-9a-f]{6}$/)
  })
})

describe('sizes and engines', () => {
  it('measures the bounding box in mm', () => {
    expect(formatSize(sizeMm(o('liver')))).toBe('120 × 85 × 140 mm')
    expect(formatSize(null)).toBe('—')
  })
  it('says what each engine makes', () => {
    expect(engineNote('native')).toMatch(/does not separate individual organs/)
    expect(engineNote('totalseg-fast')).toMatch(/117/)
    expect(engineNote('http://10.0.0.2:8080')).toMatch(/117/)
    expect(engineNote(undefined)).toBe('')
  })
})
