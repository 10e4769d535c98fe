// Downloads: the job's artifacts sorted by kind, and zips made in the
// browser (all STL files; OBJ with its MTL) from the signed URLs.

import { zipSync, type Zippable } from 'fflate'
import type { Artifact } from './api/types'

export interface ArtifactGroups {
  glb?: Artifact
  obj?: Artifact
  mtl?: Artifact
  labels?: Artifact
  manifest?: Artifact
  ct?: Artifact
  stl: Artifact[]
  other: Artifact[]
}

export function groupArtifacts(list: Artifact[]): ArtifactGroups {
  const g: ArtifactGroups = { stl: [], other: [] }
  for (const a of list) {
    switch (a.name) {
      case 'scene.glb':
        g.glb = a
        break
      case 'scene.obj':
        g.obj = a
        break
      case 'scene.mtl':
        g.mtl = a
        break
      case 'labels.nii.gz':
        g.labels = a
        break
      case 'manifest.json':
        g.manifest = a
        break
      case 'ct.nii.gz':
        g.ct = a
        break
      default:
        if (a.name.startsWith('stl/') && a.name.toLowerCase().endsWith('.stl')) g.stl.push(a)
        else g.other.push(a)
    }
  }
  g.stl.sort((a, b) => a.name.localeCompare(b.name))
  return g
}

/** expiresSoon: a signed URL with less than a minute left is renewed before use. */
export function expiresSoon(a: Artifact, now = Date.now()): boolean {
  const t = Date.parse(a.expiresAt)
  return Number.isFinite(t) && t - now < 60_000
}

export type Fetcher = (url: string) => Promise<ArrayBuffer>

/**
 * zipArtifacts fetches the artifacts one by one and zips them under their
 * names. STL and OBJ shrink well, so they are deflated, at the fastest
 * level: the point is a single file, not the smallest one.
 */
export async function zipArtifacts(list: Artifact[], get: Fetcher, onProgress?: (done: number, total: number) => void): Promise<Blob> {
  const files: Zippable = {}
  let done = 0
  for (const a of list) {
    files[a.name] = [new Uint8Array(await get(a.url)), { level: 1 }]
    onProgress?.(++done, list.length)
  }
  return new Blob([zipSync(files) as BlobPart], { type: 'application/zip' })
}

export async function fetchBytes(url: string): Promise<ArrayBuffer> {
  const res = await fetch(url)
  if (!res.ok) throw new Error(`download failed: ${res.status} ${res.statusText}`)
  return res.arrayBuffer()
}

/** fetchWithProgress reads a response body, reporting the fraction received. */
export async function fetchWithProgress(url: string, onProgress: (fraction: number) => void): Promise<ArrayBuffer> {
  const res = await fetch(url)
  if (!res.ok) throw new Error(`download failed: ${res.status} ${res.statusText}`)
  const total = Number(res.headers.get('Content-Length')) || 0
  if (!res.body || !total) return res.arrayBuffer()
  const out = new Uint8Array(total)
  const reader = res.body.getReader()
  let at = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    if (at + value.length > out.length) return concatFallback(out.subarray(0, at), value, reader)
    out.set(value, at)
    at += value.length
    onProgress(at / total)
  }
  return out.buffer.slice(0, at)
}

// A body longer than its Content-Length (a compressed transfer): collect the rest.
async function concatFallback(head: Uint8Array, next: Uint8Array, reader: ReadableStreamDefaultReader<Uint8Array>): Promise<ArrayBuffer> {
  const parts = [head.slice(), next]
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    parts.push(value)
  }
  return new Blob(parts as BlobPart[]).arrayBuffer()
}

export function saveBlob(blob: Blob, name: string) {
  const url = URL.createObjectURL(blob)
  saveUrl(url, name)
  setTimeout(() => URL.revokeObjectURL(url), 10_000)
}

export function saveUrl(url: string, name: string) {
  const a = document.createElement('a')
  a.href = url
  a.download = name.split('/').pop() ?? name
  a.rel = 'noopener'
  document.body.appendChild(a)
  a.click()
  a.remove()
}
