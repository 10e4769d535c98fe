// Turns a dropped or picked DICOM folder into one .zip, in the browser, so
// it uploads as one object. Store-only: DICOM pixel data is usually either
// already compressed or barely compressible at a speed worth the wait, and
// storing keeps the browser's memory at one copy of the files.

import { Zip, ZipPassThrough } from 'fflate'
import { isDicomPart10 } from './sniff'

/** A file of a folder, with its path inside the folder. */
export interface FolderFile {
  path: string
  file: Blob
}

export type FolderResult = { ok: true; zip: File; dicomFiles: number; skipped: number } | { ok: false; reason: string }

/** isDicomFile reads the 132 bytes that say whether a file is DICOM part 10. */
export async function isDicomFile(file: Blob): Promise<boolean> {
  if (file.size < 132) return false
  return isDicomPart10(new Uint8Array(await file.slice(0, 132).arrayBuffer()))
}

function hidden(path: string): boolean {
  return path.split('/').some((p) => p.startsWith('.') || p === '__MACOSX')
}

/**
 * zipDicomFolder keeps the folder's DICOM files (those with the "DICM"
 * marker; hidden files and anything else are left out) and zips them under
 * their paths. It refuses a folder with no DICOM file.
 */
export async function zipDicomFolder(
  folderName: string,
  files: FolderFile[],
  onProgress?: (done: number, total: number) => void,
): Promise<FolderResult> {
  const dicom: FolderFile[] = []
  for (const f of files) {
    if (hidden(f.path)) continue
    if (await isDicomFile(f.file)) dicom.push(f)
  }
  const skipped = files.length - dicom.length
  if (dicom.length === 0) {
    return {
      ok: false,
      reason: `The folder ${folderName} holds no DICOM files (none of its ${files.length} files has the "DICM" marker). Choose the folder that holds the CT series' images.`,
    }
  }
  if (dicom.length === 1) {
    return { ok: false, reason: `The folder ${folderName} holds a single DICOM image, not a series. Choose the folder with all the CT slices.` }
  }
  const chunks: Uint8Array[] = []
  let failed: Error | null = null
  const zip = new Zip((err, chunk) => {
    if (err) failed = err
    else chunks.push(chunk)
  })
  const total = dicom.reduce((s, f) => s + f.file.size, 0)
  let done = 0
  const names = new Set<string>()
  for (const f of dicom) {
    let name = f.path.replace(/^\/+/, '')
    while (names.has(name)) name = `_${name}`
    names.add(name)
    const entry = new ZipPassThrough(name)
    zip.add(entry)
    entry.push(new Uint8Array(await f.file.arrayBuffer()), true)
    done += f.file.size
    onProgress?.(done, total)
    if (failed) break
  }
  zip.end()
  if (failed) return { ok: false, reason: `Could not zip the folder ${folderName}: ${(failed as Error).message}` }
  const base = folderName.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^_+|_+$/g, '') || 'dicom'
  return { ok: true, zip: new File(chunks as BlobPart[], `${base}.zip`, { type: 'application/zip' }), dicomFiles: dicom.length, skipped }
}

/** filesFromInput reads a folder picked with <input webkitdirectory>. */
export function filesFromInput(list: FileList): { folder: string; files: FolderFile[] } {
  const files: FolderFile[] = []
  let folder = ''
  for (const f of Array.from(list)) {
    const rel = (f as File & { webkitRelativePath?: string }).webkitRelativePath || f.name
    const parts = rel.split('/')
    if (!folder && parts.length > 1) folder = parts[0]
    files.push({ path: parts.length > 1 ? parts.slice(1).join('/') : rel, file: f })
  }
  return { folder: folder || 'dicom', files }
}

/** What a drop delivered: one file, or a folder's files. */
export type Dropped = { kind: 'file'; file: File } | { kind: 'folder'; folder: string; files: FolderFile[] } | { kind: 'none' }

type Entry = FileSystemEntry

function readAllEntries(dir: FileSystemDirectoryEntry): Promise<Entry[]> {
  const reader = dir.createReader()
  const all: Entry[] = []
  return new Promise((resolve, reject) => {
    const next = () =>
      reader.readEntries((batch) => {
        if (batch.length === 0) resolve(all)
        else {
          all.push(...batch)
          next()
        }
      }, reject)
    next()
  })
}

async function walk(entry: Entry, prefix: string, out: FolderFile[]): Promise<void> {
  if (entry.isFile) {
    const file = await new Promise<File>((resolve, reject) => (entry as FileSystemFileEntry).file(resolve, reject))
    out.push({ path: prefix + entry.name, file })
    return
  }
  if (entry.isDirectory) {
    for (const child of await readAllEntries(entry as FileSystemDirectoryEntry)) {
      await walk(child, `${prefix}${entry.name}/`, out)
    }
  }
}

/** fromDataTransfer reads a drop: a single file, or one folder walked recursively. */
export async function fromDataTransfer(dt: DataTransfer): Promise<Dropped> {
  const items = Array.from(dt.items ?? []).filter((i) => i.kind === 'file')
  const entries = items.map((i) => i.webkitGetAsEntry?.() ?? null)
  const dir = entries.find((e) => e?.isDirectory)
  if (dir) {
    const files: FolderFile[] = []
    for (const child of await readAllEntries(dir as FileSystemDirectoryEntry)) await walk(child, '', files)
    return { kind: 'folder', folder: dir.name, files }
  }
  const file = dt.files?.[0]
  return file ? { kind: 'file', file } : { kind: 'none' }
}
