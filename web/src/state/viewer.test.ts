import { describe, expect, it } from 'vitest'
import type { ManifestOrgan } from '../api/types'
import { createViewerStore, groupBySystem, sortOrgans } from './viewer'

function organ(label: number, name: string, system: string, extra: Partial<ManifestOrgan> = {}): ManifestOrgan {
  return {
    label,
    name,
    displayName: name.replace(/_/g, ' ').replace(/^./, (c) => c.toUpperCase()),
    system,
    color: '#AA0000',
    voxelCount: label * 10,
    voxelVolumeMl: label * 1.5,
    meshVolumeMl: label * 1.4,
    surfaceAreaCm2: 100 - label,
    triangles: 100 * label,
    bboxMm: { min: [0, 0, 0], max: [1, 1, 1] },
    touchesBorder: false,
    partial: false,
    files: {},
    ...extra,
  }
}

const organs = [
  organ(5, 'liver', 'organs'),
  organ(1, 'spleen', 'organs', { partial: true, touchesBorder: true }),
  organ(52, 'aorta', 'vessels'),
  organ(26, 'vertebrae_L1', 'skeleton', { displayName: 'L1 vertebra' }),
  organ(90, 'brain', 'nervous'),
  organ(200, 'mystery', 'unknown_system', { color: 'red' }),
]

function loaded() {
  const s = createViewerStore()
  s.getState().load(organs)
  return s
}

const visible = (s: ReturnType<typeof loaded>) =>
  Object.entries(s.getState().looks)
    .filter(([, l]) => l.visible)
    .map(([n]) => n)
    .sort()

describe('viewer store', () => {
  it('loads every organ visible, opaque, in its display colour (GenericAnatomyColors where named, else the manifest\'s, normalised)', () => {
    const s = loaded()
    expect(visible(s)).toHaveLength(organs.length)
    expect(s.getState().looks.liver).toEqual({ visible: true, opacity: 1, color: '#dd8265' })
    expect(s.getState().looks.vertebrae_L1.color).toBe('#aa0000')
    expect(s.getState().looks.mystery.color).toBe('#cccccc') // not a hex colour
  })

  it('toggles, hides and shows', () => {
    const s = loaded()
    s.getState().toggle('liver')
    expect(s.getState().looks.liver.visible).toBe(false)
    s.getState().toggle('liver')
    expect(s.getState().looks.liver.visible).toBe(true)
    s.getState().hideAll()
    expect(visible(s)).toEqual([])
    s.getState().setManyVisible(['aorta', 'brain', 'nope'], true)
    expect(visible(s)).toEqual(['aorta', 'brain'])
    s.getState().showAll()
    expect(visible(s)).toHaveLength(organs.length)
    s.getState().toggle('nope') // unknown: nothing happens
    expect(Object.keys(s.getState().looks)).toHaveLength(organs.length)
  })

  it('isolates one organ and restores the previous visibility', () => {
    const s = loaded()
    s.getState().setVisible('brain', false)
    s.getState().isolate('aorta')
    expect(visible(s)).toEqual(['aorta'])
    expect(s.getState().isolated).toBe('aorta')
    expect(s.getState().selected).toBe('aorta')
    // isolating another keeps the first snapshot
    s.getState().isolate('liver')
    expect(visible(s)).toEqual(['liver'])
    s.getState().isolate('liver')
    expect(s.getState().isolated).toBeNull()
    expect(visible(s)).toEqual(organs.map((o) => o.name).filter((n) => n !== 'brain').sort())
  })

  it('ends an isolation when visibility is changed by hand', () => {
    const s = loaded()
    s.getState().isolate('aorta')
    s.getState().setVisible('liver', true)
    expect(s.getState().isolated).toBeNull()
    expect(visible(s)).toEqual(['aorta', 'liver'])
    s.getState().isolate('aorta')
    s.getState().isolate('aorta') // restores the state after the manual change
    expect(visible(s)).toEqual(['aorta', 'liver'])
  })

  it('clamps opacity and checks colours', () => {
    const s = loaded()
    s.getState().setOpacity('liver', 0.25)
    expect(s.getState().looks.liver.opacity).toBe(0.25)
    s.getState().setOpacity('liver', 7)
    expect(s.getState().looks.liver.opacity).toBe(1)
    s.getState().setOpacity('liver', -1)
    expect(s.getState().looks.liver.opacity).toBe(0)
    s.getState().setColor('liver', '#00FF00')
    expect(s.getState().looks.liver.color).toBe('#00ff00')
    s.getState().setColor('liver', 'green')
    expect(s.getState().looks.liver.color).toBe('#00ff00')
    s.getState().setVisible('liver', false)
    s.getState().resetLook('liver')
    expect(s.getState().looks.liver).toEqual({ visible: false, opacity: 1, color: '#dd8265' })
  })

  it('selects by name or label, revealing a hidden organ when asked', () => {
    const s = loaded()
    s.getState().hideAll()
    s.getState().selectLabel(52)
    expect(s.getState().selected).toBe('aorta')
    expect(s.getState().looks.aorta.visible).toBe(false)
    s.getState().selectLabel(26, { reveal: true })
    expect(s.getState().selected).toBe('vertebrae_L1')
    expect(s.getState().looks.vertebrae_L1.visible).toBe(true)
    s.getState().selectLabel(0) // background clears the selection
    expect(s.getState().selected).toBeNull()
    s.getState().select('aorta')
    s.getState().select('nope') // unknown names are ignored
    expect(s.getState().selected).toBe('aorta')
  })

  it('keeps the clip position inside 0..1', () => {
    const s = loaded()
    s.getState().setClip({ enabled: true, position: 1.4 })
    expect(s.getState().clip).toEqual({ enabled: true, axis: 'axial', position: 1, flip: false })
    s.getState().setClip({ axis: 'sagittal', position: -3 })
    expect(s.getState().clip.position).toBe(0)
    expect(s.getState().clip.axis).toBe('sagittal')
  })

  it('starts afresh on load', () => {
    const s = loaded()
    s.getState().isolate('aorta')
    s.getState().setQuery('x')
    s.getState().load(organs.slice(0, 2))
    expect(s.getState()).toMatchObject({ isolated: null, selected: null, query: '' })
    expect(Object.keys(s.getState().looks)).toEqual(['liver', 'spleen'])
  })
})

describe('anatomy first', () => {
  const opening = [
    organ(1, 'body', 'other', { voxelVolumeMl: 30000 }),
    organ(2, 'skeleton', 'skeleton'),
    organ(6, 'subcutaneous_fat', 'other'),
    organ(7, 'skeletal_muscle', 'muscles'),
    organ(3, 'lung_left', 'lungs'),
    organ(9, 'speck', 'other', { voxelVolumeMl: 0.02 }),
  ]
  it('opens the body faint, fat, muscle and specks hidden, the rest opaque', () => {
    const s = createViewerStore()
    s.getState().load(opening)
    const l = s.getState().looks
    expect(l.body).toMatchObject({ visible: true })
    expect(l.body.opacity).toBeLessThan(0.3)
    expect(l.subcutaneous_fat.visible).toBe(false)
    expect(l.skeletal_muscle.visible).toBe(false)
    expect(l.speck.visible).toBe(false)
    expect(l.skeleton).toMatchObject({ visible: true, opacity: 1 })
    expect(l.lung_left).toMatchObject({ visible: true, opacity: 1 })
  })
  it('leaves small structures out of the list unless asked or searched for', () => {
    const names = (g: ReturnType<typeof groupBySystem>) => g.flatMap((x) => x.organs.map((o) => o.name))
    expect(names(groupBySystem(opening, '', false))).not.toContain('speck')
    expect(names(groupBySystem(opening, '', true))).toContain('speck')
    expect(names(groupBySystem(opening, 'spe', false))).toEqual(['speck'])
  })
})

describe('groupBySystem', () => {
  it('groups in anatomical order and sorts by name', () => {
    const g = groupBySystem(organs, '')
    expect(g.map((x) => x.system)).toEqual(['organs', 'vessels', 'nervous', 'skeleton', 'other'])
    expect(g[0].organs.map((o) => o.name)).toEqual(['liver', 'spleen'])
    expect(g.at(-1)?.organs.map((o) => o.name)).toEqual(['mystery'])
  })

  it.each([
    ['LIV', ['liver']],
    ['vertebrae l1', ['vertebrae_L1']],
    ['l1 vert', ['vertebrae_L1']],
    ['vessels', ['aorta']],
    ['zzz', []],
  ])('searches %s', (q, want) => {
    expect(groupBySystem(organs, q).flatMap((x) => x.organs.map((o) => o.name))).toEqual(want)
  })
})

describe('sortOrgans', () => {
  const names = (list: ManifestOrgan[]) => list.map((o) => o.name)
  it.each([
    ['volume', 'desc', ['mystery', 'brain', 'aorta', 'vertebrae_L1', 'liver', 'spleen']],
    ['surface', 'asc', ['mystery', 'brain', 'aorta', 'vertebrae_L1', 'liver', 'spleen']],
    ['name', 'asc', ['aorta', 'brain', 'vertebrae_L1', 'liver', 'mystery', 'spleen']],
    ['partial', 'desc', ['spleen', 'aorta', 'brain', 'vertebrae_L1', 'liver', 'mystery']],
  ] as const)('by %s %s', (key, dir, want) => {
    expect(names(sortOrgans(organs, key, dir))).toEqual(want)
  })
  it('does not modify its input', () => {
    const before = names(organs)
    sortOrgans(organs, 'volume', 'asc')
    expect(names(organs)).toEqual(before)
  })
})
