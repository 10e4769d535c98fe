import { unzipSync } from 'fflate'
import { describe, expect, it } from 'vitest'
import type { Artifact } from './api/types'
import { expiresSoon, groupArtifacts, zipArtifacts } from './downloads'

const art = (name: string, expiresAt = '2030-01-01T00:00:00Z'): Artifact => ({ name, url: `/blobs/results/j/${name}`, bytes: 10, expiresAt })

describe('groupArtifacts', () => {
  it('sorts the job files by kind', () => {
    const g = groupArtifacts(['manifest.json', 'scene.glb', 'scene.obj', 'scene.mtl', 'labels.nii.gz', 'stl/liver.stl', 'stl/aorta.stl', 'ct.nii.gz', 'preview.png'].map((n) => art(n)))
    expect(g.glb?.name).toBe('scene.glb')
    expect(g.obj?.name).toBe('scene.obj')
    expect(g.mtl?.name).toBe('scene.mtl')
    expect(g.labels?.name).toBe('labels.nii.gz')
    expect(g.manifest?.name).toBe('manifest.json')
    expect(g.ct?.name).toBe('ct.nii.gz')
    expect(g.stl.map((a) => a.name)).toEqual(['stl/aorta.stl', 'stl/liver.stl'])
    expect(g.other.map((a) => a.name)).toEqual(['preview.png'])
  })
})

describe('expiresSoon', () => {
  const now = Date.parse('2030-01-01T00:00:00Z')
  it.each([
    ['2030-01-01T00:10:00Z', false],
    ['2030-01-01T00:00:30Z', true],
    ['2029-12-31T23:00:00Z', true],
    ['not a time', false],
  ])('%s', (at, want) => expect(expiresSoon(art('x', at), now)).toBe(want))
})

describe('zipArtifacts', () => {
  it('zips each fetched file under its name', async () => {
    const body = (s: string) => new TextEncoder().encode(s.repeat(50)).buffer as ArrayBuffer
    const progress: number[] = []
    const blob = await zipArtifacts([art('stl/a.stl'), art('stl/b.stl')], async (url) => body(url), (d) => progress.push(d))
    const files = unzipSync(new Uint8Array(await blob.arrayBuffer()))
    expect(Object.keys(files).sort()).toEqual(['stl/a.stl', 'stl/b.stl'])
    expect(new TextDecoder().decode(files['stl/b.stl'])).toBe('/blobs/results/j/stl/b.stl'.repeat(50))
    expect(progress).toEqual([1, 2])
  })
})
