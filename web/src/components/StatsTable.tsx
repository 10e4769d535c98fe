// The manifest's measurements as a sortable table. Structures that touch
// the scan's edge are flagged "partial": their volumes are what the scan
// holds, not the whole organ.

import { useMemo, useState } from 'react'
import { useStore } from 'zustand'
import type { StoreApi } from 'zustand/vanilla'
import type { ManifestOrgan } from '../api/types'
import { formatNumber } from '../format'
import { formatSize, sizeMm } from '../state/anatomy'
import { SYSTEM_NAMES, sortOrgans, type SortKey, type ViewerState } from '../state/viewer'

const COLUMNS: { key: SortKey; label: string; numeric: boolean; title?: string }[] = [
  { key: 'name', label: 'Structure', numeric: false },
  { key: 'system', label: 'System', numeric: false },
  { key: 'volume', label: 'Volume (mL)', numeric: true, title: 'Voxel count × voxel volume' },
  { key: 'meshVolume', label: 'Mesh volume (mL)', numeric: true, title: 'Volume enclosed by the exported surface' },
  { key: 'surface', label: 'Surface (cm²)', numeric: true },
  { key: 'size', label: 'Size (mm)', numeric: true, title: 'Extent of the bounding box: left–right × front–back × head–feet' },
  { key: 'triangles', label: 'Triangles', numeric: true },
  { key: 'partial', label: 'Partial', numeric: false, title: 'Touches the edge of the scan: the structure may extend beyond it' },
]

function cell(o: ManifestOrgan, key: SortKey): string {
  switch (key) {
    case 'name':
      return o.displayName || o.name
    case 'system':
      return SYSTEM_NAMES[o.system] ?? o.system
    case 'volume':
      return formatNumber(o.voxelVolumeMl)
    case 'meshVolume':
      return formatNumber(o.meshVolumeMl)
    case 'surface':
      return formatNumber(o.surfaceAreaCm2)
    case 'size':
      return formatSize(sizeMm(o)).replace(' mm', '')
    case 'triangles':
      return formatNumber(o.triangles, 0)
    case 'partial':
      return o.partial || o.touchesBorder ? 'partial' : ''
  }
}

/** toCSV writes the table's numbers in full precision. */
export function toCSV(organs: ManifestOrgan[]): string {
  const q = (s: string) => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s)
  const rows = [['label', 'name', 'display_name', 'system', 'voxel_count', 'volume_ml', 'mesh_volume_ml', 'surface_cm2', 'size_x_mm', 'size_y_mm', 'size_z_mm', 'triangles', 'partial']]
  for (const o of organs) {
    rows.push([
      String(o.label),
      o.name,
      o.displayName,
      o.system,
      String(o.voxelCount),
      String(o.voxelVolumeMl),
      String(o.meshVolumeMl),
      String(o.surfaceAreaCm2),
      ...(sizeMm(o) ?? ['', '', '']).map(String),
      String(o.triangles),
      o.partial || o.touchesBorder ? 'yes' : 'no',
    ])
  }
  return rows.map((r) => r.map(q).join(',')).join('\n') + '\n'
}

export function StatsTable({ store, fileStem }: { store: StoreApi<ViewerState>; fileStem: string }) {
  const organs = useStore(store, (s) => s.organs)
  const looks = useStore(store, (s) => s.looks)
  const selected = useStore(store, (s) => s.selected)
  const [sort, setSort] = useState<{ key: SortKey; dir: 'asc' | 'desc' }>({ key: 'volume', dir: 'desc' })
  const rows = useMemo(() => sortOrgans(organs, sort.key, sort.dir), [organs, sort])
  const partial = organs.filter((o) => o.partial || o.touchesBorder).length

  const by = (key: SortKey) =>
    setSort((s) => (s.key === key ? { key, dir: s.dir === 'asc' ? 'desc' : 'asc' } : { key, dir: key === 'name' || key === 'system' ? 'asc' : 'desc' }))

  const csv = () => {
    const url = URL.createObjectURL(new Blob([toCSV(organs)], { type: 'text/csv' }))
    const a = document.createElement('a')
    a.href = url
    a.download = `${fileStem}-organs.csv`
    document.body.appendChild(a)
    a.click()
    a.remove()
    setTimeout(() => URL.revokeObjectURL(url), 1000)
  }

  return (
    <section aria-label="Statistics" className="flex h-full min-h-0 flex-col">
      <div className="flex flex-wrap items-center gap-3 px-1 pb-2 text-sm text-slate-300">
        <span>
          {organs.length} structures{partial > 0 && `, ${partial} partial (touching the edge of the scan: their volumes may be incomplete)`}
        </span>
        <button type="button" className="ml-auto min-h-6 rounded border border-slate-700 px-2 py-1 text-xs hover:bg-slate-800" onClick={csv}>
          Download CSV
        </button>
      </div>
      <div className="min-h-0 flex-1 overflow-auto rounded-lg border border-slate-800">
        <table className="w-full border-collapse text-sm" data-testid="stats-table">
          <thead className="sticky top-0 bg-slate-900">
            <tr>
              {COLUMNS.map((c) => (
                <th
                  key={c.key}
                  scope="col"
                  aria-sort={sort.key === c.key ? (sort.dir === 'asc' ? 'ascending' : 'descending') : 'none'}
                  className={`border-b border-slate-800 px-2 py-1.5 font-medium ${c.numeric ? 'text-right' : 'text-left'}`}
                >
                  <button type="button" onClick={() => by(c.key)} title={c.title} className="inline-flex min-h-6 items-center gap-1 hover:text-sky-300">
                    {c.label}
                    <span aria-hidden className="text-slate-400">
                      {sort.key === c.key ? (sort.dir === 'asc' ? '▲' : '▼') : '↕'}
                    </span>
                  </button>
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {rows.map((o) => (
              <tr
                key={o.name}
                className={`cursor-pointer border-b border-slate-800/60 ${selected === o.name ? 'bg-sky-900/40' : 'hover:bg-slate-800/60'}`}
                onClick={() => store.getState().select(o.name, { reveal: true })}
              >
                {COLUMNS.map((c) => (
                  <td key={c.key} className={`px-2 py-1 ${c.numeric ? 'text-right tabular-nums' : ''}`} title={c.key === 'partial' ? o.note : undefined}>
                    {c.key === 'name' && <span className="mr-2 inline-block h-2.5 w-2.5 rounded-sm align-middle" style={{ background: looks[o.name]?.color ?? o.color }} aria-hidden />}
                    {c.key === 'partial' && cell(o, c.key) ? (
                      <span className="rounded bg-amber-900/60 px-1.5 text-xs text-amber-200">partial</span>
                    ) : (
                      cell(o, c.key)
                    )}
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  )
}
