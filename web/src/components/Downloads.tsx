// Every format of the model set, each a click away; the zips are made in
// the browser from the signed URLs.

import { useState } from 'react'
import type { Artifact } from '../api/types'
import { fetchBytes, groupArtifacts, saveBlob, saveUrl, zipArtifacts } from '../downloads'
import { formatBytes } from '../format'

export interface DownloadsProps {
  artifacts: Artifact[]
  /** Returns the artifacts with URLs valid for a while yet (renewing them if needed). */
  fresh: () => Promise<Artifact[]>
  fileStem: string
}

const row = 'flex flex-wrap items-center gap-3 border-b border-slate-800 px-3 py-2.5'
const btn = 'rounded-md border border-slate-600 bg-slate-800 px-3 py-1.5 text-sm hover:bg-slate-700 disabled:opacity-50'

export function Downloads({ artifacts, fresh, fileStem }: DownloadsProps) {
  const g = groupArtifacts(artifacts)
  const [busy, setBusy] = useState<string | null>(null)
  const [error, setError] = useState<string | null>(null)
  const [stl, setStl] = useState(g.stl[0]?.name ?? '')

  const one = async (name: string) => {
    setError(null)
    try {
      const a = (await fresh()).find((x) => x.name === name)
      if (!a) throw new Error(`${name} is no longer among the job's files`)
      saveUrl(a.url, a.name)
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err))
    }
  }

  const zip = async (what: string, pick: (all: Artifact[]) => Artifact[], name: string) => {
    setError(null)
    setBusy(`${what} 0%`)
    try {
      const list = pick(await fresh())
      if (list.length === 0) throw new Error('there is nothing to zip')
      const blob = await zipArtifacts(list, fetchBytes, (d, t) => setBusy(`${what} ${Math.round((100 * d) / t)}%`))
      saveBlob(blob, name)
    } catch (err) {
      setError(`Could not make ${name}: ${err instanceof Error ? err.message : String(err)}`)
    } finally {
      setBusy(null)
    }
  }

  const size = (a?: Artifact) => (a ? <span className="text-xs text-slate-400">{formatBytes(a.bytes)}</span> : null)
  const stlTotal = g.stl.reduce((s, a) => s + a.bytes, 0)

  return (
    <section aria-label="Downloads" className="max-w-3xl overflow-hidden rounded-lg border border-slate-800">
      <h2 className="border-b border-slate-800 bg-slate-900 px-3 py-2 text-sm font-semibold">Downloads</h2>
      {g.glb && (
        <div className={row}>
          <div className="min-w-48 flex-1">
            <div className="font-medium">3D scene — GLB</div>
            <div className="text-xs text-slate-400">Every organ as a named, coloured node, for web viewers, Blender and game engines (metres, Y up).</div>
          </div>
          {size(g.glb)}
          <button type="button" className={btn} onClick={() => one('scene.glb')}>
            Download GLB
          </button>
        </div>
      )}
      {g.obj && (
        <div className={row}>
          <div className="min-w-48 flex-1">
            <div className="font-medium">3D scene — OBJ + MTL</div>
            <div className="text-xs text-slate-400">One group per organ with its material colour (patient millimetres).</div>
          </div>
          {size(g.obj)}
          <button type="button" className={btn} disabled={!!busy} onClick={() => zip('OBJ', (all) => all.filter((a) => a.name === 'scene.obj' || a.name === 'scene.mtl'), `${fileStem}-obj.zip`)}>
            Download OBJ + MTL (zip)
          </button>
          <button type="button" className={btn} onClick={() => one('scene.obj')}>
            OBJ
          </button>
          {g.mtl && (
            <button type="button" className={btn} onClick={() => one('scene.mtl')}>
              MTL
            </button>
          )}
        </div>
      )}
      {g.stl.length > 0 && (
        <div className={row}>
          <div className="min-w-48 flex-1">
            <div className="font-medium">STL — one file per organ</div>
            <div className="text-xs text-slate-400">For 3D printing and CAD (patient millimetres).</div>
          </div>
          <label className="flex items-center gap-2 text-sm">
            <span className="sr-only">Organ</span>
            <select value={stl} onChange={(e) => setStl(e.target.value)} className="max-w-56 rounded-md border border-slate-700 bg-slate-900 px-2 py-1.5">
              {g.stl.map((a) => (
                <option key={a.name} value={a.name}>
                  {a.name.slice(4, -4)} ({formatBytes(a.bytes)})
                </option>
              ))}
            </select>
          </label>
          <button type="button" className={btn} onClick={() => stl && one(stl)}>
            Download STL
          </button>
          <button type="button" className={btn} disabled={!!busy} onClick={() => zip('STL', (all) => groupArtifacts(all).stl, `${fileStem}-stl.zip`)}>
            All {g.stl.length} as zip ({formatBytes(stlTotal)})
          </button>
        </div>
      )}
      {g.labels && (
        <div className={row}>
          <div className="min-w-48 flex-1">
            <div className="font-medium">Label map — NIfTI</div>
            <div className="text-xs text-slate-400">The segmentation on the scan's grid; values are the labels of the manifest.</div>
          </div>
          {size(g.labels)}
          <button type="button" className={btn} onClick={() => one('labels.nii.gz')}>
            Download labels.nii.gz
          </button>
        </div>
      )}
      {g.manifest && (
        <div className={row}>
          <div className="min-w-48 flex-1">
            <div className="font-medium">Manifest — JSON</div>
            <div className="text-xs text-slate-400">Names, colours, volumes, areas, bounding boxes and checksums of every file.</div>
          </div>
          {size(g.manifest)}
          <button type="button" className={btn} onClick={() => one('manifest.json')}>
            Download manifest.json
          </button>
        </div>
      )}
      {g.ct && (
        <div className={row}>
          <div className="min-w-48 flex-1">
            <div className="font-medium">CT volume — NIfTI</div>
            <div className="text-xs text-slate-400">The de-identified input volume the organs were found in.</div>
          </div>
          {size(g.ct)}
          <button type="button" className={btn} onClick={() => one('ct.nii.gz')}>
            Download ct.nii.gz
          </button>
        </div>
      )}
      {g.other.map((a) => (
        <div key={a.name} className={row}>
          <div className="min-w-48 flex-1 font-medium">{a.name}</div>
          {size(a)}
          <button type="button" className={btn} onClick={() => one(a.name)}>
            Download
          </button>
        </div>
      ))}
      {(busy || error) && (
        <p className={`px-3 py-2 text-sm ${error ? 'text-red-300' : 'text-slate-300'}`} role={error ? 'alert' : 'status'}>
          {error ?? `Zipping ${busy}…`}
        </p>
      )}
    </section>
  )
}
