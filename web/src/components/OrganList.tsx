// The organ list: grouped by system, head to feet within each, searchable,
// with show/hide, isolate, colour and opacity. Structures under SMALL_ML are
// left out until asked for, with a count. One Tab stop for the whole list
// (a roving tabindex): ↑/↓ Home/End move between organs, Space shows or
// hides, I isolates, Enter selects.

import { useEffect, useMemo, useRef, useState } from 'react'
import { useStore } from 'zustand'
import type { StoreApi } from 'zustand/vanilla'
import type { ManifestOrgan } from '../api/types'
import { formatNumber } from '../format'
import { isSmall, SMALL_ML } from '../state/anatomy'
import { groupBySystem, type ViewerState } from '../state/viewer'

export function OrganList({ store }: { store: StoreApi<ViewerState> }) {
  const organs = useStore(store, (s) => s.organs)
  const looks = useStore(store, (s) => s.looks)
  const query = useStore(store, (s) => s.query)
  const selected = useStore(store, (s) => s.selected)
  const isolated = useStore(store, (s) => s.isolated)
  const showSmall = useStore(store, (s) => s.showSmall)
  const api = store.getState()
  const groups = useMemo(() => groupBySystem(organs, query, showSmall), [organs, query, showSmall])
  const listRef = useRef<HTMLDivElement>(null)
  const shown = Object.values(looks).filter((l) => l.visible).length
  const small = useMemo(() => organs.filter(isSmall).length, [organs])
  // The row that holds the list's one Tab stop: the last focused, else the selected, else the first.
  const [active, setActive] = useState<string | null>(null)
  const order = groups.flatMap((g) => g.organs.map((o) => o.name))
  const tabStop = active && order.includes(active) ? active : selected && order.includes(selected) ? selected : (order[0] ?? null)

  // A selection made in the 3D view or the slices scrolls into view.
  useEffect(() => {
    if (!selected) return
    const row = listRef.current?.querySelector<HTMLElement>(`[data-organ="${CSS.escape(selected)}"]`)
    row?.scrollIntoView({ block: 'nearest' })
  }, [selected])

  const onKeyDown = (e: React.KeyboardEvent<HTMLDivElement>) => {
    const target = e.target as HTMLElement
    const name = target.closest<HTMLElement>('[data-organ]')?.dataset.organ
    if (!name || target.tagName === 'INPUT') return
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp' || e.key === 'Home' || e.key === 'End') {
      const all = Array.from(listRef.current?.querySelectorAll<HTMLElement>('[data-organ] [data-role="name"]') ?? [])
      const i = all.findIndex((el) => el.closest<HTMLElement>('[data-organ]')?.dataset.organ === name)
      const j = e.key === 'Home' ? 0 : e.key === 'End' ? all.length - 1 : i + (e.key === 'ArrowDown' ? 1 : -1)
      const next = all[Math.max(0, Math.min(all.length - 1, j))]
      const nextName = next?.closest<HTMLElement>('[data-organ]')?.dataset.organ
      if (nextName) setActive(nextName)
      next?.focus()
      e.preventDefault()
    } else if (e.key === ' ') {
      api.toggle(name)
      e.preventDefault()
    } else if (e.key === 'i' || e.key === 'I') {
      api.isolate(name)
      e.preventDefault()
    }
  }

  return (
    <nav aria-label="Organs" className="flex h-full min-h-0 flex-col">
      <div className="space-y-2 border-b border-slate-800 p-2">
        <input
          type="search"
          value={query}
          onChange={(e) => api.setQuery(e.target.value)}
          placeholder="Search organs"
          aria-label="Search organs"
          className="w-full rounded-md border border-slate-700 bg-slate-900 px-2 py-1.5 text-sm placeholder:text-slate-500"
        />
        <div className="flex flex-wrap items-center gap-1 text-xs">
          <button type="button" className="min-h-6 rounded border border-slate-700 px-2 py-1 hover:bg-slate-800" onClick={api.showAll}>
            Show all
          </button>
          <button type="button" className="min-h-6 rounded border border-slate-700 px-2 py-1 hover:bg-slate-800" onClick={api.hideAll}>
            Hide all
          </button>
          <span className="ml-auto text-slate-300" data-testid="organ-count" aria-live="polite">
            {shown} of {organs.length} shown
          </span>
        </div>
        {small > 0 && (
          <button
            type="button"
            className="min-h-6 text-left text-xs text-sky-300 underline-offset-2 hover:underline"
            aria-pressed={showSmall}
            data-testid="small-toggle"
            onClick={() => api.setShowSmall(!showSmall)}
          >
            {showSmall
              ? `Hide the ${small} structure${small === 1 ? '' : 's'} under ${SMALL_ML} mL from the list`
              : `${small} structure${small === 1 ? '' : 's'} under ${SMALL_ML} mL hidden — list ${small === 1 ? 'it' : 'them'}`}
          </button>
        )}
      </div>
      <div
        ref={listRef}
        className="min-h-0 flex-1 overflow-y-auto p-1"
        onKeyDown={onKeyDown}
        onFocus={(e) => {
          const n = (e.target as HTMLElement).closest<HTMLElement>('[data-organ]')?.dataset.organ
          if (n && n !== active) setActive(n)
        }}
        data-testid="organ-list"
        aria-describedby="organ-keys"
      >
        <p id="organ-keys" className="sr-only">
          Arrow keys move between organs, Space shows or hides one, I shows it alone, Enter selects it.
        </p>
        {groups.length === 0 && <p className="p-3 text-sm text-slate-400">No organ matches “{query}”.</p>}
        {groups.map((g) => {
          const names = g.organs.map((o) => o.name)
          const vis = names.filter((n) => looks[n]?.visible).length
          return (
            <section key={g.system} aria-label={g.title} className="mb-2">
              <div className="flex items-center gap-2 px-2 py-1 text-xs font-semibold uppercase tracking-wide text-slate-400">
                <input
                  type="checkbox"
                  aria-label={`Show all ${g.title.toLowerCase()}`}
                  checked={vis === names.length}
                  ref={(el) => {
                    if (el) el.indeterminate = vis > 0 && vis < names.length
                  }}
                  onChange={(e) => api.setManyVisible(names, e.target.checked)}
                />
                <h3>
                  {g.title} <span className="font-normal text-slate-400">({g.organs.length})</span>
                </h3>
              </div>
              <ul>
                {g.organs.map((o) => (
                  <OrganRow key={o.name} organ={o} store={store} selected={selected === o.name} isolated={isolated === o.name} tabStop={tabStop === o.name} />
                ))}
              </ul>
            </section>
          )
        })}
      </div>
    </nav>
  )
}

function OrganRow({
  organ,
  store,
  selected,
  isolated,
  tabStop,
}: {
  organ: ManifestOrgan
  store: StoreApi<ViewerState>
  selected: boolean
  isolated: boolean
  tabStop: boolean
}) {
  const look = useStore(store, (s) => s.looks[organ.name])
  const api = store.getState()
  if (!look) return null
  const title = organ.displayName || organ.name
  return (
    <li
      data-organ={organ.name}
      data-visible={look.visible}
      className={`rounded-md ${selected ? 'bg-sky-900/50 ring-1 ring-sky-600' : 'hover:bg-slate-800/70'}`}
      onPointerEnter={() => api.hover(organ.name)}
      onPointerLeave={() => api.hover(null)}
    >
      <div className="flex items-center gap-2 px-2 py-0.5">
        <input type="checkbox" tabIndex={-1} checked={look.visible} onChange={(e) => api.setVisible(organ.name, e.target.checked)} aria-label={`Show ${title}`} />
        <span className="h-3 w-3 shrink-0 rounded-sm ring-1 ring-black/30" style={{ background: look.color, opacity: look.visible ? 1 : 0.35 }} aria-hidden />
        <button
          type="button"
          data-role="name"
          tabIndex={tabStop ? 0 : -1}
          className={`flex min-h-6 min-w-0 flex-1 items-center gap-1 text-left text-sm leading-tight ${look.visible ? '' : 'text-slate-400'}`}
          aria-pressed={selected}
          aria-keyshortcuts="Space I"
          onClick={() => api.select(selected ? null : organ.name)}
          title={organ.note ? `${title}: ${organ.note}` : title}
        >
          <span className="min-w-0 break-words">{title}</span>
          {organ.partial && (
            <span className="shrink-0 rounded bg-amber-900/60 px-1 text-[10px] text-amber-200" title={organ.note}>
              partial
            </span>
          )}
        </button>
        <span className="shrink-0 text-xs tabular-nums text-slate-400">{formatNumber(organ.voxelVolumeMl)} mL</span>
        <button
          type="button"
          tabIndex={-1}
          className={`min-h-6 shrink-0 rounded px-1.5 py-0.5 text-xs ${isolated ? 'bg-sky-700 text-white' : 'text-slate-300 hover:bg-slate-700'}`}
          aria-pressed={isolated}
          onClick={() => api.isolate(organ.name)}
          title={isolated ? 'Show the others again' : `Show ${title} alone`}
        >
          {isolated ? 'Back' : 'Solo'}
        </button>
      </div>
      {selected && (
        <div className="flex items-center gap-3 px-2 pb-2 pl-8 text-xs text-slate-300">
          <label className="flex items-center gap-1">
            Colour
            <input type="color" value={look.color} onChange={(e) => api.setColor(organ.name, e.target.value)} className="h-6 w-8 cursor-pointer bg-transparent" />
          </label>
          <label className="flex min-w-0 flex-1 items-center gap-1">
            Opacity
            <input
              type="range"
              min={0}
              max={1}
              step={0.05}
              value={look.opacity}
              onChange={(e) => api.setOpacity(organ.name, Number(e.target.value))}
              className="w-full min-w-0"
            />
          </label>
          <button type="button" className="min-h-6 shrink-0 rounded px-1.5 py-0.5 hover:bg-slate-700" onClick={() => api.resetLook(organ.name)}>
            Reset
          </button>
        </div>
      )}
    </li>
  )
}
