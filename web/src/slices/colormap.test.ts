import { describe, expect, it } from 'vitest'
import type { ManifestOrgan } from '../api/types'
import { labelColormap } from './colormap'

const organ = (label: number, name: string, color: string) =>
  ({ label, name, displayName: name.toUpperCase(), color, system: 'organs' }) as ManifestOrgan

describe('labelColormap', () => {
  it('colours each label, with gaps and hidden organs clear', () => {
    const organs = [organ(3, 'c', '#0000ff'), organ(1, 'a', '#ff8000')]
    const cm = labelColormap(organs, {
      a: { visible: true, opacity: 1, color: '#ff8000' },
      c: { visible: false, opacity: 1, color: '#00ff00' }, // recoloured, then hidden
    })
    expect(cm.I).toEqual([0, 1, 2, 3])
    expect(cm.A).toEqual([0, 255, 0, 0])
    expect([cm.R[1], cm.G[1], cm.B[1]]).toEqual([255, 128, 0])
    expect([cm.R[3], cm.G[3], cm.B[3]]).toEqual([0, 255, 0])
    expect(cm.labels).toEqual(['', 'A', '', 'C'])
  })
})

describe('labelColormap envelopes', () => {
  it('leaves the body out of the slices even while it shows in 3D', () => {
    const organs = [organ(1, 'body', '#b17a65'), organ(2, 'skeleton', '#f1d691')]
    const cm = labelColormap(organs, {
      body: { visible: true, opacity: 0.12, color: '#b17a65' },
      skeleton: { visible: true, opacity: 1, color: '#f1d691' },
    })
    expect(cm.A).toEqual([0, 0, 255])
  })
})
