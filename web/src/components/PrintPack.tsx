// Print-ready exports of a finished job: the chosen organs meshed again
// with the person's smoothing, triangle budget and small-piece settings
// (POST /api/jobs/{id}/exports), each run kept as a version of its own, and
// its print pack (one STL per organ, named, with a README) to download.

import { useCallback, useEffect, useRef, useState } from 'react'
import type { ApiClient } from '../api/client'
import type { Artifact, JobOrgan } from '../api/types'
import { formatBytes, formatTime } from '../format'
import { saveUrl } from '../downloads'

/** The settings of a print export (internal/api, events.ExportSettings). */
export interface ExportSettings {
  smooth: number
  maxTriangles: number
  minPieceMl: number
  largestPieceOnly: boolean
  labels: number[]
}

export interface ExportOrgan {
  label: number
  name: string
  displayName: string
  file: string
  triangles: number
  watertight: boolean
}

/** One print export, as GET /api/jobs/{id}/exports lists it. */
export interface PrintExport {
  id: string
  status: 'queued' | 'done' | 'failed'
  createdAt: string
  settings: ExportSettings
  error?: { code: string; message: string }
  organs: ExportOrgan[]
  pieces?: Record<string, [number, number]>
  printPack?: Artifact
  artifacts: Artifact[]
}

export type Pieces = 'all' | 'min' | 'largest'

/** settingsFrom builds the request body from the form's values. */
export function settingsFrom(v: { smooth: number; budget: number; pieces: Pieces; minMl: number; labels: number[] }): ExportSettings {
  return {
    smooth: Math.min(1, Math.max(0, v.smooth)),
    maxTriangles: v.budget > 0 ? Math.round(v.budget) : 0,
    minPieceMl: v.pieces === 'min' ? Math.max(0, v.minMl) : 0,
    largestPieceOnly: v.pieces === 'largest',
    labels: [...v.labels].sort((a, b) => a - b),
  }
}

/** describe says in a line what an export was made with. */
export function describe(s: ExportSettings, organs: number): string {
  const parts = [`${s.labels.length || organs} organ${(s.labels.length || organs) === 1 ? '' : 's'}`, `smoothing ${s.smooth.toFixed(2)}`]
  parts.push(s.maxTriangles > 0 ? `${s.maxTriangles.toLocaleString('en')} triangles` : '10 % of the triangles')
  if (s.largestPieceOnly) parts.push('largest piece only')
  else if (s.minPieceMl > 0) parts.push(`pieces under ${s.minPieceMl} mL dropped`)
  return parts.join(' · ')
}

export interface PrintPackProps {
  client: ApiClient
  jobId: string
  organs: JobOrgan[]
  fileStem: string
}

const btn = 'min-h-6 rounded-md border border-slate-600 bg-slate-800 px-3 py-1.5 text-sm hover:bg-slate-700 disabled:opacity-50'
const POLL_MS = 1500

export function PrintPack({ client, jobId, organs, fileStem }: PrintPackProps) {
  const [chosen, setChosen] = useState<Set<number>>(() => new Set(organs.map((o) => o.label)))
  const [smooth, setSmooth] = useState(0.5)
  const [budget, setBudget] = useState(200_000)
  const [pieces, setPieces] = useState<Pieces>('min')
  const [minMl, setMinMl] = useState(1)
  const [exports, setExports] = useState<PrintExport[]>([])
  const [error, setError] = useState<string | null>(null)
  const [sending, setSending] = useState(false)
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null)
  const path = `/api/jobs/${encodeURIComponent(jobId)}/exports`

  const refresh = useCallback(async () => {
    try {
      const list = await client.request<{ exports: PrintExport[] }>('GET', path)
      setExports(list.exports)
      if (timer.current) clearTimeout(timer.current)
      if (list.exports.some((e) => e.status === 'queued')) timer.current = setTimeout(refresh, POLL_MS)
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err))
    }
  }, [client, path])

  useEffect(() => {
    void refresh()
    return () => {
      if (timer.current) clearTimeout(timer.current)
    }
  }, [refresh])

  const submit = async () => {
    setError(null)
    setSending(true)
    try {
      const labels = chosen.size === organs.length ? [] : [...chosen]
      await client.request('POST', path, settingsFrom({ smooth, budget, pieces, minMl, labels }))
      await refresh()
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err))
    } finally {
      setSending(false)
    }
  }

  const toggle = (label: number) =>
    setChosen((s) => {
      const n = new Set(s)
      if (n.has(label)) n.delete(label)
      else n.add(label)
      return n
    })

  const sorted = [...organs].sort((a, b) => (a.displayName ?? a.name).localeCompare(b.displayName ?? b.name, 'en', { numeric: true }))

  return (
    <section aria-label="Print pack" className="max-w-3xl overflow-hidden rounded-lg border border-slate-800">
      <h2 className="border-b border-slate-800 bg-slate-900 px-3 py-2 text-sm font-semibold">Print pack — STL for 3D printing</h2>
      <form
        className="space-y-3 px-3 py-3 text-sm"
        onSubmit={(e) => {
          e.preventDefault()
          void submit()
        }}
      >
        <p className="text-xs text-slate-400">
          The chosen organs are meshed again with these settings into a new version; files you already downloaded do not change.
        </p>
        <fieldset>
          <legend className="mb-1 font-medium">
            Organs ({chosen.size} of {organs.length})
          </legend>
          <div className="mb-1 flex gap-2">
            <button type="button" className={btn} onClick={() => setChosen(new Set(organs.map((o) => o.label)))}>
              All
            </button>
            <button type="button" className={btn} onClick={() => setChosen(new Set())}>
              None
            </button>
          </div>
          <div className="grid max-h-48 grid-cols-1 gap-x-4 overflow-auto sm:grid-cols-2">
            {sorted.map((o) => (
              <label key={o.label} className="flex min-h-6 items-center gap-2">
                <input type="checkbox" checked={chosen.has(o.label)} onChange={() => toggle(o.label)} />
                <span>{o.displayName ?? o.name}</span>
              </label>
            ))}
          </div>
        </fieldset>
        <label className="flex flex-wrap items-center gap-2">
          <span className="w-40">Smoothing</span>
          <input type="range" min={0} max={1} step={0.05} value={smooth} onChange={(e) => setSmooth(Number(e.target.value))} aria-valuetext={smooth.toFixed(2)} />
          <span className="tabular-nums">{smooth.toFixed(2)}</span>
        </label>
        <label className="flex flex-wrap items-center gap-2">
          <span className="w-40">Triangle budget</span>
          <input
            type="number"
            min={0}
            max={5_000_000}
            step={1000}
            value={budget}
            onChange={(e) => setBudget(Number(e.target.value))}
            className="w-32 rounded-md border border-slate-700 bg-slate-900 px-2 py-1"
          />
          <span className="text-xs text-slate-400">for the whole pack; 0: a tenth of each organ's</span>
        </label>
        <fieldset className="space-y-1">
          <legend className="mb-1 font-medium">Small pieces</legend>
          <label className="flex min-h-6 items-center gap-2">
            <input type="radio" name="pieces" checked={pieces === 'all'} onChange={() => setPieces('all')} /> Keep every piece
          </label>
          <label className="flex min-h-6 flex-wrap items-center gap-2">
            <input type="radio" name="pieces" checked={pieces === 'min'} onChange={() => setPieces('min')} /> Drop pieces under
            <input
              type="number"
              min={0}
              max={10000}
              step={0.1}
              value={minMl}
              aria-label="Smallest piece kept, mL"
              onChange={(e) => {
                setMinMl(Number(e.target.value))
                setPieces('min')
              }}
              className="w-20 rounded-md border border-slate-700 bg-slate-900 px-2 py-1"
            />
            mL
          </label>
          <label className="flex min-h-6 items-center gap-2">
            <input type="radio" name="pieces" checked={pieces === 'largest'} onChange={() => setPieces('largest')} /> Keep only each organ's largest piece
          </label>
        </fieldset>
        <button type="submit" className={btn} disabled={sending || chosen.size === 0}>
          {sending ? 'Sending…' : 'Make print pack'}
        </button>
      </form>
      {exports.length > 0 && (
        <ol aria-label="Print pack versions" className="border-t border-slate-800">
          {exports.map((e, i) => (
            <li key={e.id} className="flex flex-wrap items-center gap-3 border-b border-slate-800 px-3 py-2.5 text-sm">
              <div className="min-w-48 flex-1">
                <div className="font-medium">
                  Version {exports.length - i} · {formatTime(e.createdAt)}
                </div>
                <div className="text-xs text-slate-400">{describe(e.settings, organs.length)}</div>
                {e.status === 'done' && (
                  <div className="text-xs text-slate-400">
                    {e.organs.length} STL files, {e.organs.reduce((s, o) => s + o.triangles, 0).toLocaleString('en')} triangles,{' '}
                    {e.organs.every((o) => o.watertight) ? 'all watertight' : `${e.organs.filter((o) => !o.watertight).length} not watertight`}
                  </div>
                )}
                {e.status === 'failed' && <div className="text-xs text-red-300">{e.error?.message ?? 'The export failed.'}</div>}
              </div>
              {e.status === 'queued' && <span role="status">Making…</span>}
              {e.status === 'done' && e.printPack && (
                <button type="button" className={btn} onClick={() => e.printPack && saveUrl(e.printPack.url, `${fileStem}-print-v${exports.length - i}.zip`)}>
                  Download print pack ({formatBytes(e.printPack.bytes)})
                </button>
              )}
            </li>
          ))}
        </ol>
      )}
      {error && (
        <p className="px-3 py-2 text-sm text-red-300" role="alert">
          {error}
        </p>
      )}
    </section>
  )
}
