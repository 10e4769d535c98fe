import { gunzipSync, gzipSync } from 'fflate'
import { readdirSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { dataPath, readData } from '../testing/data'
import { gunzipHead, niftiVersion, sniffFile } from './sniff'

const ctGz = readData('totalsegmentator-example', 'ct_3mm.nii.gz')
const ct = gunzipSync(ctGz)
const dicomFiles = () => {
  const dir = dataPath('totalsegmentator-example', 'dicom')
  return readdirSync(dir).map((n) => readData('totalsegmentator-example', 'dicom', n))
}

function nifti2Header(bigEndian = false): Uint8Array {
  const b = new Uint8Array(544)
  const v = new DataView(b.buffer)
  v.setInt32(0, 540, !bigEndian)
  b.set([0x6e, 0x2b, 0x32, 0, 0x0d, 0x0a, 0x1a, 0x0a], 4) // "n+2\0\r\n\032\n"
  return b
}

function byteSwappedNifti1(src: Uint8Array): Uint8Array {
  const b = src.slice(0, 352)
  const v = new DataView(b.buffer)
  v.setInt32(0, 348, false)
  return b
}

const blob = (b: Uint8Array) => new Blob([b as BlobPart])

describe('niftiVersion', () => {
  it.each([
    ['real NIfTI-1', ct.subarray(0, 352), 1],
    ['big-endian NIfTI-1', byteSwappedNifti1(ct), 1],
    ['NIfTI-2', nifti2Header(), 2],
    ['big-endian NIfTI-2', nifti2Header(true), 2],
    ['too short', ct.subarray(0, 100), 0],
    ['right size, wrong magic', (() => { const b = ct.slice(0, 352); b[344] = 0x41; return b })(), 0],
    ['zeros', new Uint8Array(600), 0],
  ])('%s', (_, b, want) => {
    expect(niftiVersion(b as Uint8Array)).toBe(want)
  })
})

describe('gunzipHead', () => {
  it('inflates just the start of the real scan', () => {
    const head = gunzipHead(ctGz.subarray(0, 64 * 1024), 544)
    expect(head.length).toBeGreaterThanOrEqual(544)
    expect(head.length).toBeLessThan(ct.length)
    expect(head.subarray(0, 544)).toEqual(ct.subarray(0, 544))
  })
})

describe('sniffFile', () => {
  const ok = (kind: string) => ({ ok: true, kind })
  it.each([
    ['ct_3mm.nii.gz', ctGz, ok('nifti-gz')],
    ['CT.NII.GZ', ctGz, ok('nifti-gz')],
    ['ct.nii', ct, ok('nifti')],
    ['ct2.nii.gz', gzipSync(nifti2Header()), ok('nifti-gz')],
    ['series.zip', new Uint8Array([0x50, 0x4b, 3, 4, 20, 0, 0, 0]), ok('dicom-zip')],
  ])('accepts %s', async (name, bytes, want) => {
    expect(await sniffFile(blob(bytes), name)).toMatchObject({ ...want, name })
  })

  it.each([
    ['empty.nii.gz', new Uint8Array(0), /empty/],
    ['ct.nii.gz', ct, /rename it to end in \.nii instead/],
    ['ct.nii', ctGz, /rename it to end in \.nii\.gz/],
    ['notes.nii.gz', gzipSync(new TextEncoder().encode('x'.repeat(2000))), /holds no NIfTI header/],
    ['short.nii.gz', gzipSync(new Uint8Array(100)), /too short/],
    ['broken.nii.gz', ctGz.slice(0, 10).map((v, i) => (i > 3 ? 0xff : v)), /damaged gzip|too short/],
    ['text.nii', new TextEncoder().encode('hello'.repeat(100)), /no NIfTI header/],
    ['photo.zip', new TextEncoder().encode('\xff\xd8\xff\xe0 jpeg'), /not a zip archive/],
    ['empty.zip', new Uint8Array([0x50, 0x4b, 5, 6, ...new Array(18).fill(0)]), /empty zip/],
    ['scan.gz', ctGz, /not named \.nii\.gz/],
    ['report.pdf', new TextEncoder().encode('%PDF-1.7'), /not a supported scan/],
  ])('refuses %s', async (name, bytes, reason) => {
    const r = await sniffFile(blob(bytes), name)
    expect(r.ok).toBe(false)
    if (!r.ok) expect(r.reason).toMatch(reason)
  })

  it('refuses a single real DICOM image, whatever its name', async () => {
    const [first] = dicomFiles()
    for (const name of ['slice.dcm', 'slice.zip', 'CT.1.2.3']) {
      const r = await sniffFile(blob(first), name)
      expect(r.ok).toBe(false)
      if (!r.ok) expect(r.reason).toMatch(/single DICOM image/)
    }
  })
})
