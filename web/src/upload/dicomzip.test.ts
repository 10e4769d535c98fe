import { unzipSync } from 'fflate'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { dataPath } from '../testing/data'
import { zipDicomFolder, type FolderFile } from './dicomzip'
import { sniffFile } from './sniff'

function realSeries(): FolderFile[] {
  const dir = dataPath('totalsegmentator-example', 'dicom')
  return readdirSync(dir)
    .sort()
    .map((n) => ({ path: `series/${n}`, file: new Blob([readFileSync(join(dir, n))]) }))
}

describe('zipDicomFolder', () => {
  it('zips a real series so that every image comes back byte for byte', async () => {
    const files = realSeries()
    const extras: FolderFile[] = [
      { path: '.DS_Store', file: new Blob(['junk'.repeat(100)]) },
      { path: '__MACOSX/series/._x', file: new Blob([new Uint8Array(4096)]) },
      { path: 'README.txt', file: new Blob(['a'.repeat(300)]) },
    ]
    const progress: number[] = []
    const r = await zipDicomFolder('My Study', [...files, ...extras], (done, total) => progress.push(done / total))
    expect(r.ok).toBe(true)
    if (!r.ok) return
    expect(r.dicomFiles).toBe(files.length)
    expect(r.skipped).toBe(extras.length)
    expect(r.zip.name).toBe('My_Study.zip')
    expect(progress.at(-1)).toBe(1)
    // The zip passes the upload check and holds exactly the DICOM files.
    expect(await sniffFile(r.zip, r.zip.name)).toMatchObject({ ok: true, kind: 'dicom-zip' })
    const entries = unzipSync(new Uint8Array(await r.zip.arrayBuffer()))
    expect(Object.keys(entries).sort()).toEqual(files.map((f) => f.path).sort())
    for (const f of files) {
      const want = new Uint8Array(await f.file.arrayBuffer())
      // Buffer.equals: a deep toEqual of 20 × 160 kB arrays takes half a minute.
      expect(Buffer.from(entries[f.path]).equals(want), f.path).toBe(true)
    }
  })

  it('refuses a folder without DICOM files', async () => {
    const r = await zipDicomFolder('photos', [
      { path: 'a.jpg', file: new Blob([new Uint8Array(2000)]) },
      { path: 'b.txt', file: new Blob(['x']) },
    ])
    expect(r).toEqual({ ok: false, reason: expect.stringMatching(/holds no DICOM files \(none of its 2 files/) })
  })

  it('refuses a folder with a single image', async () => {
    const r = await zipDicomFolder('one', realSeries().slice(0, 1))
    expect(r).toEqual({ ok: false, reason: expect.stringMatching(/single DICOM image/) })
  })
})
