// The viewer's state: which organs show, how, which one is selected or
// hovered, the search, the clipping plane. The 3D scene, the slices, the
// organ list and the table all read and write this one store, so a click on
// a slice selects the organ everywhere.

import { createStore, type StoreApi } from 'zustand/vanilla'
import type { ManifestOrgan } from '../api/types'
import { compareAnatomical, displayColor, ENVELOPES, isSmall, sizeMm } from './anatomy'

export interface OrganLook {
  visible: boolean
  opacity: number // 0..1
  color: string // "#rrggbb"
}

export type ClipAxis = 'axial' | 'coronal' | 'sagittal'

export interface Clip {
  enabled: boolean
  axis: ClipAxis
  position: number // 0..1 across the model's extent along the axis
  flip: boolean // keep the other side
}

export interface ViewerState {
  organs: ManifestOrgan[]
  looks: Record<string, OrganLook>
  /** The organ shown alone, and what was visible before, to restore. */
  isolated: string | null
  beforeIsolate: Record<string, boolean> | null
  selected: string | null
  hovered: string | null
  query: string
  /** Whether the list shows structures under SMALL_ML (they open hidden). */
  showSmall: boolean
  clip: Clip

  load(organs: ManifestOrgan[]): void
  setVisible(name: string, visible: boolean): void
  toggle(name: string): void
  setManyVisible(names: string[], visible: boolean): void
  showAll(): void
  hideAll(): void
  /** isolate shows name alone; isolating it again restores what showed before. */
  isolate(name: string): void
  setOpacity(name: string, opacity: number): void
  setColor(name: string, color: string): void
  resetLook(name: string): void
  /** select picks an organ (null clears); reveal also makes it visible. */
  select(name: string | null, opts?: { reveal?: boolean }): void
  selectLabel(label: number, opts?: { reveal?: boolean }): void
  hover(name: string | null): void
  setQuery(q: string): void
  setShowSmall(show: boolean): void
  setClip(c: Partial<Clip>): void
}

export const SYSTEM_ORDER = ['organs', 'digestive', 'lungs', 'heart', 'vessels', 'glands', 'nervous', 'muscles', 'skeleton', 'other'] as const

export const SYSTEM_NAMES: Record<string, string> = {
  organs: 'Organs',
  digestive: 'Digestive tract',
  lungs: 'Lungs and airways',
  heart: 'Heart',
  vessels: 'Vessels',
  glands: 'Glands',
  nervous: 'Nervous system',
  muscles: 'Muscles',
  skeleton: 'Skeleton',
  other: 'Other',
}

export const DEFAULT_CLIP: Clip = { enabled: false, axis: 'axial', position: 0.5, flip: false }

const HEX = /^#[0-9a-f]{6}$/i

function clamp01(v: number): number {
  return Number.isFinite(v) ? Math.min(1, Math.max(0, v)) : 1
}

/**
 * defaultLook is how an organ opens: anatomy first, so the body is a faint
 * skin, fat and muscle and specks under SMALL_ML are hidden, the organs
 * opaque in their display colour.
 */
export function defaultLook(o: ManifestOrgan): OrganLook {
  const c = displayColor(o)
  const env = ENVELOPES[o.name]
  return {
    visible: (env?.visible ?? true) && !isSmall(o),
    opacity: env?.opacity ?? 1,
    color: HEX.test(c) ? c.toLowerCase() : '#cccccc',
  }
}

export function createViewerStore(): StoreApi<ViewerState> {
  return createStore<ViewerState>()((set, get) => {
    const patch = (name: string, p: Partial<OrganLook>) => {
      const cur = get().looks[name]
      if (!cur) return
      set({ looks: { ...get().looks, [name]: { ...cur, ...p } } })
    }
    // A visibility change by hand ends an isolation: what shows now is the
    // person's choice, and "isolate" again starts afresh.
    const setVis = (names: string[], visible: boolean) => {
      const looks = { ...get().looks }
      for (const n of names) if (looks[n]) looks[n] = { ...looks[n], visible }
      set({ looks, isolated: null, beforeIsolate: null })
    }
    return {
      organs: [],
      looks: {},
      isolated: null,
      beforeIsolate: null,
      selected: null,
      hovered: null,
      query: '',
      showSmall: false,
      clip: DEFAULT_CLIP,

      load(organs) {
        const looks: Record<string, OrganLook> = {}
        for (const o of organs) looks[o.name] = defaultLook(o)
        set({ organs, looks, isolated: null, beforeIsolate: null, selected: null, hovered: null, query: '', showSmall: false, clip: DEFAULT_CLIP })
      },
      setVisible: (name, visible) => setVis([name], visible),
      toggle(name) {
        const l = get().looks[name]
        if (l) setVis([name], !l.visible)
      },
      setManyVisible: (names, visible) => setVis(names, visible),
      showAll: () => setVis(Object.keys(get().looks), true),
      hideAll: () => setVis(Object.keys(get().looks), false),
      isolate(name) {
        const s = get()
        if (!s.looks[name]) return
        if (s.isolated === name && s.beforeIsolate) {
          const looks = { ...s.looks }
          for (const [n, v] of Object.entries(s.beforeIsolate)) if (looks[n]) looks[n] = { ...looks[n], visible: v }
          set({ looks, isolated: null, beforeIsolate: null })
          return
        }
        const before =
          s.beforeIsolate ?? Object.fromEntries(Object.entries(s.looks).map(([n, l]) => [n, l.visible]))
        const looks: Record<string, OrganLook> = {}
        for (const [n, l] of Object.entries(s.looks)) looks[n] = { ...l, visible: n === name }
        set({ looks, isolated: name, beforeIsolate: before, selected: name })
      },
      setOpacity: (name, opacity) => patch(name, { opacity: clamp01(opacity) }),
      setColor(name, color) {
        if (HEX.test(color)) patch(name, { color: color.toLowerCase() })
      },
      resetLook(name) {
        const o = get().organs.find((x) => x.name === name)
        if (o) patch(name, { ...defaultLook(o), visible: get().looks[name]?.visible ?? true })
      },
      select(name, opts) {
        if (name !== null && !get().looks[name]) return
        if (name !== null && opts?.reveal && !get().looks[name].visible) {
          patch(name, { visible: true })
        }
        set({ selected: name })
      },
      selectLabel(label, opts) {
        const o = get().organs.find((x) => x.label === label)
        get().select(o ? o.name : null, opts)
      },
      hover(name) {
        if (get().hovered !== name) set({ hovered: name })
      },
      setQuery: (q) => set({ query: q }),
      setShowSmall: (show) => set({ showSmall: show }),
      setClip: (c) => {
        const next = { ...get().clip, ...c }
        next.position = clamp01(next.position)
        set({ clip: next })
      },
    }
  })
}

/** matches reports whether an organ matches a search: every word, in its names or system. */
export function matches(o: ManifestOrgan, query: string): boolean {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean)
  if (words.length === 0) return true
  const hay = `${o.displayName} ${o.name.replace(/_/g, ' ')} ${SYSTEM_NAMES[o.system] ?? o.system}`.toLowerCase()
  return words.every((w) => hay.includes(w))
}

export interface SystemGroup {
  system: string
  title: string
  organs: ManifestOrgan[]
}

/**
 * groupBySystem groups the organs that match query, systems in anatomical
 * order, organs head to feet and in natural order (see compareAnatomical).
 * Structures under SMALL_ML are left out unless showSmall (a search finds them too).
 */
export function groupBySystem(organs: ManifestOrgan[], query: string, showSmall = true): SystemGroup[] {
  const by = new Map<string, ManifestOrgan[]>()
  for (const o of organs) {
    if (!matches(o, query)) continue
    if (!showSmall && !query.trim() && isSmall(o)) continue
    const sys = o.system && SYSTEM_NAMES[o.system] ? o.system : 'other'
    const list = by.get(sys) ?? []
    list.push(o)
    by.set(sys, list)
  }
  const out: SystemGroup[] = []
  for (const sys of SYSTEM_ORDER) {
    const list = by.get(sys)
    if (!list) continue
    list.sort(compareAnatomical)
    out.push({ system: sys, title: SYSTEM_NAMES[sys], organs: list })
  }
  return out
}

export type SortKey = 'name' | 'system' | 'volume' | 'meshVolume' | 'surface' | 'size' | 'triangles' | 'partial'

/** sortOrgans sorts for the statistics table; ties fall back to the name. */
export function sortOrgans(organs: ManifestOrgan[], key: SortKey, dir: 'asc' | 'desc'): ManifestOrgan[] {
  const name = (o: ManifestOrgan) => o.displayName || o.name
  const val = (o: ManifestOrgan): number | string => {
    switch (key) {
      case 'name':
        return name(o).toLowerCase()
      case 'system':
        return SYSTEM_NAMES[o.system] ?? o.system
      case 'volume':
        return o.voxelVolumeMl
      case 'meshVolume':
        return o.meshVolumeMl
      case 'surface':
        return o.surfaceAreaCm2
      case 'size':
        return Math.max(0, ...(sizeMm(o) ?? [0]))
      case 'triangles':
        return o.triangles
      case 'partial':
        return o.partial || o.touchesBorder ? 1 : 0
    }
  }
  const sign = dir === 'asc' ? 1 : -1
  return [...organs].sort((a, b) => {
    const va = val(a)
    const vb = val(b)
    const c = typeof va === 'number' && typeof vb === 'number' ? va - vb : String(va).localeCompare(String(vb))
    return c !== 0 ? sign * c : name(a).localeCompare(name(b))
  })
}
