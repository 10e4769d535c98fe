// Checks a chosen file before it is uploaded, by its first bytes rather
// than its name, so an obviously wrong file is refused at once with the
// reason instead of after the upload. The server checks again, fully: this
// only catches what a few bytes can tell.

import { Gunzip } from 'fflate'

export type ScanKind = 'nifti' | 'nifti-gz' | 'dicom-zip'

export type SniffResult = { ok: true; kind: ScanKind; name: string } | { ok: false; reason: string }

const HEAD_BYTES = 1024
const GZIP_PROBE_BYTES = 64 * 1024

/** niftiVersion reads a NIfTI header's sizeof_hdr and magic: 1, 2 or 0 (not NIfTI). */
export function niftiVersion(b: Uint8Array): 0 | 1 | 2 {
  if (b.length < 348) return 0
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength)
  const le = v.getInt32(0, true)
  const be = v.getInt32(0, false)
  const magic = (at: number) => String.fromCharCode(b[at], b[at + 1], b[at + 2])
  if ((le === 348 || be === 348) && (magic(344) === 'n+1' || magic(344) === 'ni1')) return 1
  if ((le === 540 || be === 540) && b.length >= 8 && (magic(4) === 'n+2' || magic(4) === 'ni2')) return 2
  return 0
}

export function isGzip(b: Uint8Array): boolean {
  return b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b
}

/** isZip: a zip's first local file header, or an empty zip's end record. */
export function zipSignature(b: Uint8Array): 'zip' | 'empty-zip' | null {
  if (b.length < 4 || b[0] !== 0x50 || b[1] !== 0x4b) return null
  if (b[2] === 0x03 && b[3] === 0x04) return 'zip'
  if (b[2] === 0x05 && b[3] === 0x06) return 'empty-zip'
  return null
}

/** isDicomPart10 reports whether b starts with a DICOM file's preamble and "DICM". */
export function isDicomPart10(b: Uint8Array): boolean {
  return b.length >= 132 && b[128] === 0x44 && b[129] === 0x49 && b[130] === 0x43 && b[131] === 0x4d
}

/** gunzipHead inflates the start of a gzip stream: at least want bytes, or all there is. */
export function gunzipHead(compressed: Uint8Array, want: number): Uint8Array {
  const parts: Uint8Array[] = []
  let got = 0
  const g = new Gunzip((chunk) => {
    parts.push(chunk)
    got += chunk.length
  })
  // Feed in small pieces and stop as soon as enough came out: a probe of a
  // large file must not inflate megabytes.
  const step = 4096
  for (let i = 0; i < compressed.length && got < want; i += step) {
    g.push(compressed.subarray(i, Math.min(i + step, compressed.length)), false)
  }
  const out = new Uint8Array(got)
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

async function readHead(file: Blob, n: number): Promise<Uint8Array> {
  return new Uint8Array(await file.slice(0, n).arrayBuffer())
}

const lower = (s: string) => s.toLowerCase()

/** sniffFile decides whether file looks like a scan this service reads. */
export async function sniffFile(file: Blob, name: string): Promise<SniffResult> {
  const n = lower(name)
  if (file.size === 0) return { ok: false, reason: `${name} is empty (0 bytes).` }
  const head = await readHead(file, Math.max(HEAD_BYTES, GZIP_PROBE_BYTES))
  if (isDicomPart10(head)) {
    return {
      ok: false,
      reason: `${name} is a single DICOM image, not a series. Drop the whole folder of the CT series, or a .zip of it.`,
    }
  }
  if (n.endsWith('.nii.gz')) {
    if (!isGzip(head)) {
      if (niftiVersion(head)) return { ok: false, reason: `${name} is not gzip-compressed: rename it to end in .nii instead of .nii.gz.` }
      return { ok: false, reason: `${name} is not a gzip file, so it cannot be a .nii.gz volume.` }
    }
    let inner: Uint8Array
    try {
      inner = gunzipHead(head, 544)
    } catch (err) {
      return { ok: false, reason: `${name} is a damaged gzip file (${err instanceof Error ? err.message : String(err)}).` }
    }
    if (inner.length < 348) return { ok: false, reason: `${name} is too short to hold a NIfTI header.` }
    if (!niftiVersion(inner)) return { ok: false, reason: `${name} is gzip-compressed but holds no NIfTI header (sizeof_hdr 348 or 540).` }
    return { ok: true, kind: 'nifti-gz', name }
  }
  if (n.endsWith('.nii')) {
    if (isGzip(head)) return { ok: false, reason: `${name} is gzip-compressed: rename it to end in .nii.gz.` }
    if (!niftiVersion(head)) return { ok: false, reason: `${name} has no NIfTI header (sizeof_hdr 348 or 540, magic n+1 or n+2).` }
    return { ok: true, kind: 'nifti', name }
  }
  if (n.endsWith('.zip')) {
    const sig = zipSignature(head)
    if (sig === 'empty-zip') return { ok: false, reason: `${name} is an empty zip archive.` }
    if (!sig) return { ok: false, reason: `${name} is not a zip archive (it does not start with "PK").` }
    return { ok: true, kind: 'dicom-zip', name }
  }
  if (n.endsWith('.gz') && isGzip(head)) {
    return { ok: false, reason: `${name} is gzip-compressed but not named .nii.gz; only NIfTI volumes (.nii, .nii.gz) or a zip of DICOM files can be read.` }
  }
  return {
    ok: false,
    reason: `${name} is not a supported scan: choose a NIfTI volume (.nii, .nii.gz), a .zip of a DICOM series, or the series' folder.`,
  }
}
